//go:build race

package export

// raceEnabled: under -race the big exports are made smaller (the detector slows them tenfold).
const raceEnabled = true
