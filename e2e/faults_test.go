package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// initialize sends a legacy initialize to url and returns the response's Mcp-Session-Id.
func initialize(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("initialize: %s", resp.Status)
	}
	return resp.Header.Get("Mcp-Session-Id")
}

// runFault runs `mcpwatch fault ARGS` against the instance whose state directory is stateDir.
func runFault(t *testing.T, stateDir string, args ...string) Result {
	t.Helper()
	cmd := Command(append([]string{"fault"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateDir)
	return RunCmd(t, 20*time.Second, cmd)
}

// Toggles switched at start with --fault, and live from a second process over the control socket, change the
// wire of the next request, and the capture file records which toggle changed what.
func TestTogglesAcrossProcesses(t *testing.T) {
	srv := Start(t, "serve", "--no-auth", "--fault", "omit-session-id")
	if sid := initialize(t, srv.URL); sid != "" {
		t.Errorf("--fault omit-session-id: initialize answered with session id %q", sid)
	}
	if r := runFault(t, srv.StateDir, "unset", "omit-session-id"); r.Code != 0 {
		t.Fatalf("fault unset: exit %d\n%s", r.Code, r.Stderr)
	}
	if sid := initialize(t, srv.URL); sid == "" {
		t.Error("after `fault unset omit-session-id`: no session id")
	}
	r := runFault(t, srv.StateDir, "set", "omit-session-id", "slow=50ms")
	if r.Code != 0 {
		t.Fatalf("fault set: exit %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "● omit-session-id") || !strings.Contains(r.Stdout, "● slow=50ms") {
		t.Errorf("fault set printed:\n%s", r.Stdout)
	}
	if sid := initialize(t, srv.URL); sid != "" {
		t.Errorf("after `fault set omit-session-id`: session id %q", sid)
	}
	if r := runFault(t, srv.StateDir, "set", "slow=fast"); r.Code == 0 || !strings.Contains(r.Stderr, "DURATION must be positive") {
		t.Errorf("fault set slow=fast: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := runFault(t, srv.StateDir, "list"); r.Code != 0 || !strings.Contains(r.Stdout, "● slow=50ms") {
		t.Errorf("fault list: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// All or nothing: a bad spec anywhere in the list switches none of them.
	if r := runFault(t, srv.StateDir, "set", "reject-discover", "nope"); r.Code == 0 || !strings.Contains(r.Stderr, `unknown toggle "nope"`) {
		t.Errorf("fault set reject-discover nope: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := runFault(t, srv.StateDir, "unset", "slow", "nope"); r.Code == 0 || !strings.Contains(r.Stderr, `unknown toggle "nope"`) {
		t.Errorf("fault unset slow nope: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := runFault(t, srv.StateDir, "list"); r.Code != 0 || strings.Contains(r.Stdout, "● reject-discover") || !strings.Contains(r.Stdout, "● slow=50ms") {
		t.Errorf("after the refused set and unset, fault list shows:\n%s%s", r.Stdout, r.Stderr)
	}
	srv.Stop()

	// The capture file: 3 initializes; the 1st and 3rd record omit-session-id with the id they removed.
	exs := loadCaptures(t, srv.StateDir)
	var inits []*recorder.Exchange
	for _, ex := range exs {
		if ex.RPCMethod() == "initialize" {
			inits = append(inits, ex)
		}
	}
	if len(inits) != 3 {
		t.Fatalf("%d initialize exchanges captured, want 3", len(inits))
	}
	for i, want := range []bool{true, false, true} {
		got := false
		for _, f := range inits[i].Toggles {
			if f.Name == "omit-session-id" && f.What == "response header Mcp-Session-Id" && f.Before != "" && f.After == "(removed)" {
				got = true
			}
		}
		if got != want {
			t.Errorf("initialize %d: omit-session-id recorded %v, want %v (faults %+v)", i+1, got, want, inits[i].Toggles)
		}
	}
}

// A bad --fault is a clear error listing the valid toggles; a bad --scenario lists the scenarios.
func TestFaultFlagErrors(t *testing.T) {
	r := Run(t, 20*time.Second, "serve", "--addr", "127.0.0.1:0", "--fault", "nope")
	if r.Code == 0 || !strings.Contains(r.Stderr, `unknown toggle "nope"; valid toggles: omit-session-id`) {
		t.Errorf("--fault nope: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = Run(t, 20*time.Second, "serve", "--addr", "127.0.0.1:0", "--scenario", "nope")
	if r.Code == 0 || !strings.Contains(r.Stderr, "scenarios: no-session-id") {
		t.Errorf("--scenario nope: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = Run(t, 20*time.Second, "faults")
	if r.Code != 0 || !strings.Contains(r.Stdout, "omit-session-id") || !strings.Contains(r.Stdout, "SCENARIOS") {
		t.Errorf("mcpwatch faults: exit %d\n%s", r.Code, r.Stdout)
	}
	r = Run(t, 20*time.Second, "fault", "list")
	if r.Code == 0 || !strings.Contains(r.Stderr, "no running mcpwatch") {
		t.Errorf("fault list with nothing running: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// loadCaptures reads every capture file under a state directory.
func loadCaptures(t *testing.T, stateDir string) []*recorder.Exchange {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "mcpwatch", "captures", "*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no capture file under %s", stateDir)
	}
	var out []*recorder.Exchange
	for _, f := range files {
		res, err := recorder.LoadCapture(f)
		if err != nil {
			t.Fatal(err)
		}
		if res.TornTail || len(res.Skipped) > 0 {
			t.Errorf("%s: torn tail %v, skipped lines %v after a clean stop", f, res.TornTail, res.Skipped)
		}
		out = append(out, res.Exchanges...)
	}
	return out
}
