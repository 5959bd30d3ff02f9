//go:build race

package mcpserver

// raceEnabled: allocation counts under -race are the race detector's (its instrumentation moves values to the heap).
const raceEnabled = true
