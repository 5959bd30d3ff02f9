//go:build race

package main

// raceEnabled: under -race the big exports are made smaller (the detector slows them tenfold).
const raceEnabled = true
