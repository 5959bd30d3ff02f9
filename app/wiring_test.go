package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

func wiringExchanges() []*recorder.Exchange {
	t0 := time.Date(2026, 7, 28, 10, 0, 0, 0, time.UTC)
	mk := func(id uint64, method, url, body string, status int) *recorder.Exchange {
		return &recorder.Exchange{ID: id, Kind: recorder.Inbound, State: recorder.StateComplete, Start: t0.Add(time.Duration(id) * time.Second),
			Method: method, URL: url, ReqBody: recorder.Body{Data: []byte(body), Size: int64(len(body))}, Status: status,
			RPC: recorder.ParseRPC([]byte(body), recorder.FromClient, -1)}
	}
	return []*recorder.Exchange{
		mk(1, "POST", "/mcp", `{"jsonrpc":"2.0","id":0,"method":"initialize"}`, 200),
		mk(2, "POST", "/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 202),
		mk(3, "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 200),
	}
}

// TestExportForTUI (exportForTUI): the TUI's JSONL export is what `mcpwatch open` and recorder.LoadCapture read back, and a
// failed export leaves no file behind.
func TestExportForTUI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	if err := exportSlice(exportForTUI(nil), "jsonl", path, wiringExchanges()); err != nil {
		t.Fatal(err)
	}
	res, err := recorder.LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Exchanges) != 3 || res.TornTail || len(res.Skipped) > 0 || res.Exchanges[2].RPCMethod() != "tools/list" {
		t.Fatalf("read back %d exchanges (torn %v, skipped %v)", len(res.Exchanges), res.TornTail, res.Skipped)
	}
	for _, f := range exportFormatsForTUI() {
		p := filepath.Join(dir, "all."+f)
		if err := exportSlice(exportForTUI(nil), f, p, wiringExchanges()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v, %d bytes", f, err, len(b))
		}
		if f == "har" && !json.Valid(b) {
			t.Fatalf("the HAR is not JSON")
		}
		os.Remove(p)
	}
	if err := exportSlice(exportForTUI(nil), "xml", filepath.Join(dir, "x.xml"), nil); err == nil || !strings.Contains(err.Error(), "unknown export format") {
		t.Fatalf("an unknown format: %v", err)
	}
	if err := exportSlice(exportForTUI(nil), "jsonl", filepath.Join(dir, "missing", "x.jsonl"), nil); err == nil {
		t.Fatal("a missing directory is not an error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the directory holds %d files, want only out.jsonl", len(entries))
	}
}

// TestTogglesForTUI (togglesForTUI): the TUI sees the catalogue's serve toggles, switches them through the set, and gets the
// set's errors for a bad value.
func TestTogglesForTUI(t *testing.T) {
	set := toggle.NewSet(toggle.ModeServe)
	tg := togglesForTUI{Toggles: set}
	list := tg.List()
	var names []string
	for _, ti := range list {
		names = append(names, ti.Name)
		if ti.Active {
			t.Fatalf("%s is on in a new set", ti.Name)
		}
	}
	if len(list) == 0 || names[0] != "omit-session-id" || !slices.Contains(names, "slow") {
		t.Fatalf("toggles: %v", names)
	}
	if err := tg.Set("omit-session-id", ""); err != nil {
		t.Fatal(err)
	}
	if err := tg.Set("slow", "250ms"); err != nil {
		t.Fatal(err)
	}
	if err := tg.Set("slow", "soon"); err == nil {
		t.Fatal("slow=soon was taken")
	}
	on := map[string]string{}
	for _, ti := range tg.List() {
		if ti.Active {
			on[ti.Name] = ti.Value
		}
		if ti.Name == "slow" && (!ti.TakesValue || ti.ValueHint == "") {
			t.Fatalf("slow: %+v", ti)
		}
	}
	if len(on) != 2 || on["slow"] != "250ms" || !set.Has(toggle.OmitSessionID) {
		t.Fatalf("on: %v", on)
	}
	if err := tg.Unset("slow"); err != nil || set.Has(toggle.Slow) {
		t.Fatalf("unset: %v", err)
	}
}
