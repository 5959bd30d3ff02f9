package analysis

import (
	"iter"
	"strings"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// header is h.Get(name) for a name of ASCII letters, digits and dashes (every name the analysis reads): the value
// of the first header whose name equals name under Unicode case folding, as strings.EqualFold compares. The
// analysis reads a dozen names of every exchange, each through every header of the list; most headers are ruled
// out here without a call: a name shorter than name's (a name folding to it has at least its bytes: every rune
// folding to an ASCII one is one byte or more), or one whose first byte is ASCII and not name's first byte in
// either case (an ASCII byte folds only to its other case).
func header(h recorder.Headers, name string) string {
	c := name[0] | 0x20
	for i := range h {
		if n := h[i].Name; !ruledOut(n, name, c) && strings.EqualFold(n, name) {
			return h[i].Value
		}
	}
	return ""
}

// headerValues is h.Values(name), for a name as header takes, in order, without a slice of them: the values of
// every header whose name equals name under Unicode case folding, most headers ruled out as header rules them out (ruledOut).
func headerValues(h recorder.Headers, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		c := name[0] | 0x20
		for i := range h {
			if n := h[i].Name; !ruledOut(n, name, c) && strings.EqualFold(n, name) && !yield(h[i].Value) {
				return
			}
		}
	}
}

// ruledOut reports a header name n that cannot equal name under case folding, without strings.EqualFold (header's
// filter); c is name's first byte in lower case. Small enough to be inlined in the loops over every header.
func ruledOut(n, name string, c byte) bool {
	return len(n) < len(name) || n[0] < utf8.RuneSelf && n[0]|0x20 != c
}
