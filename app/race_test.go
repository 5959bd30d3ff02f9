//go:build race

package app

// raceEnabled: under -race the big exports are made smaller (the detector slows them tenfold).
const raceEnabled = true
