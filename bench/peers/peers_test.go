package peers_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/bench/peers"
)

// Each peer passes the load generator's checks, in the era it serves; the reverse proxy passes them in front of
// the plain handler, and streams its event stream.
func TestPeersPassTheChecks(t *testing.T) {
	plain := httptest.NewServer(peers.Plain())
	defer plain.Close()
	u, _ := url.Parse(plain.URL)
	rp := httptest.NewServer(peers.ReverseProxy(u))
	defer rp.Close()
	sdk := httptest.NewServer(peers.SDK(false))
	defer sdk.Close()
	sdk2026 := httptest.NewServer(peers.SDK(true))
	defer sdk2026.Close()
	for _, tc := range []struct {
		name string
		url  string
		era  loadgen.Era
	}{
		{"sdk", sdk.URL, loadgen.EraLegacy},
		{"sdk-stateless", sdk2026.URL, loadgen.Era2026},
		{"plain", plain.URL, loadgen.EraLegacy},
		{"plain 2026", plain.URL, loadgen.Era2026},
		{"revproxy", rp.URL, loadgen.EraLegacy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := loadgen.Run(context.Background(), loadgen.Config{URL: tc.url + "/mcp", Era: tc.era, Clients: 4, Duration: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors > 0 || res.Ops == 0 {
				t.Fatalf("%s", res)
			}
		})
	}
	for _, base := range []string{plain.URL, rp.URL} {
		for _, warm := range []bool{false, true} {
			lat, err := loadgen.FirstEvent(context.Background(), base+"/mcp", nil, 2, warm)
			if err != nil {
				t.Fatal(err)
			}
			if lat.N != 2 || lat.Max >= peers.StreamHold {
				t.Errorf("%s (warm %v): first event after %v: the stream was buffered", base, warm, lat.Max)
			}
		}
	}
}
