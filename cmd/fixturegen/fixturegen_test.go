package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server"
)

const testdata = "../../recorder/analysis/testdata"

// The committed broken fixtures are exactly what derive makes of the committed healthy ones (and the README's
// table lists them), so the generator and the fixtures cannot drift apart.
func TestDeriveReproducesTheFixtures(t *testing.T) {
	dir := t.TempDir()
	names := map[string]bool{"README.md": true}
	for _, f := range fixtures {
		names[f.from+".jsonl"] = true
	}
	for n := range names {
		b, err := os.ReadFile(filepath.Join(testdata, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := derive(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range append([]string{"README.md"}, func() (out []string) {
		for _, f := range fixtures {
			out = append(out, f.name+".jsonl")
		}
		return
	}()...) {
		got, _ := os.ReadFile(filepath.Join(dir, f))
		want, err := os.ReadFile(filepath.Join(testdata, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what derive makes: run `go run ./cmd/fixturegen derive -dir recorder/analysis/testdata`", f)
		}
	}
}

// goldenStages reads the stage column of a fixture's golden file, in exchange-id order.
func goldenStages(t *testing.T, name string) []string {
	b, err := os.ReadFile(filepath.Join(testdata, "golden", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && f[1] != "" && (f[1] == "inbound" || f[1] == "outbound") {
			out = append(out, f[5])
		}
	}
	return out
}

func analyse(t *testing.T, path string) ([]string, *analysis.Report) {
	t.Helper()
	res, err := recorder.LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, ex := range res.Exchanges {
		if e := ex.Start.Add(ex.Timings.Total); e.After(last) {
			last = e
		}
	}
	a := analysis.New(analysis.Options{Now: last.Add(time.Minute)})
	for _, ex := range analysis.SettleOrder(res.Exchanges) {
		a.Observe(ex)
	}
	byID := slices.Clone(res.Exchanges)
	slices.SortFunc(byID, func(x, y *recorder.Exchange) int { return int(x.ID) - int(y.ID) })
	var stages []string
	for _, ex := range byID {
		stages = append(stages, string(a.Info(ex.ID).Stage))
	}
	return stages, a.Report()
}

// Recording the OAuth handshakes again (real MCP handler, stub authorization server) gives captures with the same
// story as the committed ones: the same stages in the same order, and the same findings.
func TestRecordOAuthAgain(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := recordOAuth(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"claude-web-legacy", "claude-web-2026", "seed-claude-2024", "sdk-go-oauth"} {
		stages, rep := analyse(t, filepath.Join(dir, name+".jsonl"))
		if want := goldenStages(t, name); !slices.Equal(stages, want) {
			t.Errorf("%s: stages %v, committed %v", name, stages, want)
		}
		var rules []string
		for _, f := range rep.Findings {
			rules = append(rules, f.Rule)
		}
		if len(rules) > 0 || len(rep.Connections) != 1 {
			t.Errorf("%s: findings %v, %d connections", name, rules, len(rep.Connections))
		}
	}
}

// The Go SDK clients fixturegen drives work against the real server, with the stories of the committed captures.
func TestDriveAgain(t *testing.T) {
	for _, tc := range []struct{ client, path, fixture string }{
		{"go-legacy", "/mcp", "sdk-go-legacy"}, {"go-2026", "/mcp", "sdk-go-2026"}, {"go-sse", "/sse", "sdk-go-sse"},
	} {
		t.Run(tc.client, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.jsonl")
			cf, err := recorder.OpenCapture(path)
			if err != nil {
				t.Fatal(err)
			}
			store := recorder.NewStore(recorder.StoreOptions{})
			store.OnComplete(cf.Append)
			srv, err := server.New(server.Config{Addr: "127.0.0.1:0", NoAuth: true, Recorder: recorder.New(store, recorder.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: srv.Handler(), ConnContext: recorder.ConnContext}
			go hs.Serve(recorder.WrapListener(ln))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = drive(ctx, "http://"+ln.Addr().String()+tc.path, tc.client)
			sctx, scancel := context.WithTimeout(context.Background(), time.Second)
			if hs.Shutdown(sctx) != nil {
				hs.Close()
			}
			scancel()
			time.Sleep(50 * time.Millisecond)
			if cerr := cf.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			stages, rep := analyse(t, path)
			if want := goldenStages(t, tc.fixture); !slices.Equal(stages, want) {
				t.Errorf("stages %v, committed %v", stages, want)
			}
			if len(rep.Findings) != 0 || len(rep.Connections) != 1 {
				t.Errorf("findings %+v, %d connections", rep.Findings, len(rep.Connections))
			}
		})
	}
}
