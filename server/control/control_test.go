package control

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/server/toggle"
)

func TestSetUnsetListOverTheSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	set := toggle.NewSet(toggle.ModeServe)
	srv, err := Listen(filepath.Join(dir, SocketName("4000")), set)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	for p, want := range map[string]os.FileMode{dir: 0o700, srv.Path(): 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}

	path, err := Find(dir, "")
	if err != nil || path != srv.Path() {
		t.Fatalf("Find = %q, %v", path, err)
	}
	c := NewClient(path)
	if _, err := c.Set("slow=2s"); err != nil {
		t.Fatal(err)
	}
	if d, ok := set.Duration(toggle.Slow); !ok || d.String() != "2s" {
		t.Errorf("slow not applied: %v %v", d, ok)
	}
	st, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tg := range st.Toggles {
		if tg.Name == "slow" {
			found = tg.On && tg.Spec == "slow=2s"
		}
	}
	if !found {
		t.Errorf("List does not show slow=2s on: %+v", st)
	}
	if _, err := c.Set("nope"); err == nil || !strings.Contains(err.Error(), "unknown toggle") {
		t.Errorf("Set(nope) = %v", err)
	}
	if _, err := c.Unset("slow"); err != nil || set.Has(toggle.Slow) {
		t.Errorf("Unset: %v, still on: %v", err, set.Has(toggle.Slow))
	}

	// Several specs in one request, all or nothing: a bad one leaves every toggle as it was.
	changes := 0
	set.OnChange(func([]toggle.Active) { changes++ })
	for _, bad := range [][]string{{"reject-discover", "nope"}, {"omit-session-id", "slow=fast"}, {"reject-discover", "tools-changed=1"}} {
		if _, err := c.Set(bad...); err == nil {
			t.Errorf("Set(%q) succeeded", bad)
		}
		if l := set.List(); len(l) != 0 {
			t.Errorf("Set(%q) failed, yet %+v is on", bad, l)
		}
	}
	if _, err := c.Set("reject-discover", "slow=1s"); err != nil || !set.Has(toggle.RejectDiscover) || !set.Has(toggle.Slow) {
		t.Fatalf("Set(reject-discover, slow=1s): %v; on: %+v", err, set.List())
	}
	if _, err := c.Unset("slow", "nope"); err == nil || !strings.Contains(err.Error(), `unknown toggle "nope"`) || !set.Has(toggle.Slow) {
		t.Errorf("Unset(slow, nope) = %v; slow still on: %v", err, set.Has(toggle.Slow))
	}
	if _, err := c.Unset("slow", "reject-discover"); err != nil || len(set.List()) != 0 {
		t.Errorf("Unset(slow, reject-discover) = %v; on: %+v", err, set.List())
	}
	if changes != 2 {
		t.Errorf("%d change events, want 2 (one per applied request)", changes)
	}

	// A second instance on the same socket is refused; a stale socket file is replaced.
	if _, err := Listen(srv.Path(), set); err == nil || !strings.Contains(err.Error(), "another mcpwatch") {
		t.Errorf("second Listen = %v", err)
	}
	srv.Close()
	if err := os.WriteFile(srv.Path(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv2, err := Listen(srv.Path(), set)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	srv2.Close()
	if _, err := Find(dir, ""); err == nil || !strings.Contains(err.Error(), "no running mcpwatch") {
		t.Errorf("Find with none running = %v", err)
	}
}

// TestMain doubles as the other user's client: with MCPWATCH_CONTROL_DIAL set, the test binary (run as user nobody)
// connects to that socket, sends a request, and prints what happened.
func TestMain(m *testing.M) {
	if path := os.Getenv("MCPWATCH_CONTROL_DIAL"); path != "" {
		c, err := net.Dial("unix", path)
		if err != nil {
			fmt.Println("connect:", err)
			os.Exit(0)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		_, werr := io.WriteString(c, "PUT /toggles/omit-session-id HTTP/1.1\r\nHost: x\r\n\r\n")
		n, rerr := c.Read(make([]byte, 512))
		fmt.Printf("connected; write %v; read %d bytes, %v\n", werr, n, rerr)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Another user on the same machine cannot use the socket, even when the file system would let them reach it: the
// connection is made, and the server hangs up without a byte.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test switches to user nobody and must run as root (script/test does)")
	}
	dir, err := os.MkdirTemp("/tmp", "mcpwatch-control-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "c.sock")
	set := toggle.NewSet(toggle.ModeServe)
	srv, err := Listen(path, set)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	os.Chmod(dir, 0o755) // Listen made it 0700; open it up to prove the credential check alone refuses
	os.Chmod(path, 0o777)
	// A copy of this test binary that user nobody may run.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dial")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	dial := func(uid uint32) string {
		cmd := exec.Command(bin)
		cmd.Env = []string{"MCPWATCH_CONTROL_DIAL=" + path}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dial as %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	t0 := time.Now()
	out := dial(65534)
	t.Logf("nobody: %q after %v", out, time.Since(t0))
	if !strings.HasPrefix(out, "connected;") || !strings.Contains(out, "read 0 bytes") {
		t.Errorf("user nobody: %q; want a connection the server hung up on without answering", out)
	}
	if set.Has(toggle.OmitSessionID) {
		t.Error("user nobody switched a toggle")
	}
	if out := dial(0); !strings.Contains(out, "read ") || strings.Contains(out, "read 0 bytes") || !set.Has(toggle.OmitSessionID) {
		t.Errorf("same user: %q", out)
	}
}

func TestDirFitsASocketPath(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "")
	long := "/tmp/" + strings.Repeat("a-long-state-directory/", 5)
	d := Dir(long)
	if len(filepath.Join(d, SocketName("65535"))) > maxSocketPath {
		t.Errorf("Dir(%q) = %q: too long for a socket", long, d)
	}
	srv, err := Listen(filepath.Join(d, SocketName("1")), toggle.NewSet(toggle.ModeServe))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if d := Dir("/tmp/short"); d != "/tmp/short/run" {
		t.Errorf("Dir(short) = %q", d)
	}
}
