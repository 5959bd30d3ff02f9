package durfmt

import (
	"strconv"
	"time"
)

// AppendSig3 appends Sig3(d) to dst. Under a minute (every quick exchange the headless printer writes a line for)
// it formats the digits itself, as time.Duration.String does, rather than allocate the string; from a minute on it
// appends that string.
func AppendSig3(dst []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(dst, "0s"...)
	}
	unit := time.Duration(1)
	for x := d; x >= 1000; x /= 10 {
		unit *= 10
	}
	d = d.Round(unit)
	if d >= time.Minute {
		return append(dst, d.String()...)
	}
	u := uint64(d)
	var prec int
	var suffix string
	switch {
	case u < uint64(time.Microsecond):
		prec, suffix = 0, "ns"
	case u < uint64(time.Millisecond):
		prec, suffix = 3, "µs"
	case u < uint64(time.Second):
		prec, suffix = 6, "ms"
	default:
		prec, suffix = 9, "s"
	}
	pow := uint64(1)
	for range prec {
		pow *= 10
	}
	dst = strconv.AppendUint(dst, u/pow, 10)
	if frac := u % pow; frac != 0 {
		// The fraction's digits without its trailing zeros, its leading zeros kept: Duration.String's fmtFrac.
		digits := prec
		for frac%10 == 0 {
			frac /= 10
			digits--
		}
		dst = append(dst, '.')
		n := 1 // frac's own digits
		for x := frac; x >= 10; x /= 10 {
			n++
		}
		for ; n < digits; n++ {
			dst = append(dst, '0')
		}
		dst = strconv.AppendUint(dst, frac, 10)
	}
	return append(dst, suffix...)
}
