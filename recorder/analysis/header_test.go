package analysis

import (
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// headerNames are the names the analysis reads.
var headerNames = []string{"Mcp-Session-Id", "Content-Type", "User-Agent", "Origin", "MCP-Protocol-Version", "Location",
	"WWW-Authenticate", "Mcp-Method", "Cf-Mitigated", "Authorization", "X-Forwarded-Proto", "X-Forwarded-Host",
	"X-Forwarded-For", "Host", "Cache-Control", "Access-Control-Expose-Headers", "Access-Control-Allow-Origin", "Accept"}

// header finds what Headers.Get finds, names folded as strings.EqualFold folds them: other cases, the Kelvin sign
// (U+212A) for k and the long s (U+017F) for s, bytes that are not UTF-8, empty and shorter names, the first of
// several.
func TestHeaderIsGet(t *testing.T) {
	names := []string{"", "m", "M", "Mcp", "mcp-session-id", "MCP-SESSION-ID", "Mcp-Session-Id ", "Mcp-Sesſion-Id",
		"Mcp-Seſſion-Id", "\u212Aey", "Hoſt", "HOST", "ho\xffst", "\xffHost", "Origin\x00", "origin", "0rigin",
		"Content-Length", "Content-Type", "content-type", "Accept\u212A", "Cache-Control", "Location", "Iocation",
		"Mcp-Method", "mcp-method", "ſser-Agent", "User-Agent", "user-agent\u212A", "Authorization", "Mcp\rMethod"}
	var h recorder.Headers
	for i, n := range names {
		h = append(h, recorder.Header{Name: n, Value: "v" + string(rune('a'+i%26))})
	}
	for _, name := range append(headerNames, "Key", "Ket", "SS", "Mcp-Seſſion-Id"[:5]) {
		for from := range h {
			if got, want := header(h[from:], name), h[from:].Get(name); got != want {
				t.Errorf("header(headers[%d:], %q) = %q, want %q", from, name, got, want)
			}
			if got, want := slices.Collect(headerValues(h[from:], name)), h[from:].Values(name); !slices.Equal(got, want) {
				t.Errorf("headerValues(headers[%d:], %q) = %q, want %q", from, name, got, want)
			}
		}
	}
	if got := header(recorder.Headers{{Name: "Mcp-Seſſion-Id", Value: "x"}}, "Mcp-Session-Id"); got != "x" {
		t.Errorf("a name with long s: %q", got)
	}
}

// FuzzHeaderIsGet: header and Headers.Get agree on any header names.
func FuzzHeaderIsGet(f *testing.F) {
	f.Add("Mcp-Seſſion-Id", "\u212Aeep", "mcp-session-id")
	f.Add("HOST", "hoſt", "Origin")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		h := recorder.Headers{{Name: a, Value: "a"}, {Name: b, Value: "b"}, {Name: c, Value: "c"}}
		for _, name := range append(headerNames, "Keep", "Ss") {
			if got, want := header(h, name), h.Get(name); got != want {
				t.Fatalf("header(%q, %q) = %q, want %q", h, name, got, want)
			}
			if got, want := slices.Collect(headerValues(h, name)), h.Values(name); !slices.Equal(got, want) {
				t.Fatalf("headerValues(%q, %q) = %q, want %q", h, name, got, want)
			}
		}
	})
}
