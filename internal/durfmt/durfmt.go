// Package durfmt prints durations for people: one formatter for the headless printer and the exports.
package durfmt

import "time"

// Sig3 prints d to three significant digits (149µs, 1.49ms, 14.9ms, 1.49s, 1m15.3s): a duration rounded to a
// fixed unit hides the short ones (149µs is not 100µs). Zero and negative durations print "0s".
func Sig3(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	unit := time.Duration(1)
	for x := d; x >= 1000; x /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}
