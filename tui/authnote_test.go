package tui

import (
	"strings"
	"testing"
)

// An AuthNote (serve --allow-loopback-cimd) is said in the header, after the auth state, at both sizes.
func TestHeaderSaysAuthNote(t *testing.T) {
	for _, size := range [][2]int{{160, 48}, {80, 24}} {
		h := newHarness(t, size[0], size[1], nil, func(c *Config) { c.Auth = true; c.AuthNote = "loopback CIMD" })
		if s := h.screen(); !strings.Contains(s, "auth on, loopback CIMD") {
			t.Errorf("%dx%d: the header does not say the auth note:\n%s", size[0], size[1], s)
		}
	}
}
