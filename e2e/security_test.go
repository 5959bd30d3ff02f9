package e2e

// Security checks against the real binary: the only TCP listener is the public one (the control surface is a
// Unix socket for this user only), and no export format gives away a secret of a real OAuth run.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
)

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(t *testing.T, pid int) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			out[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return out
}

// procNetListeners returns, from /proc/PID/net/{tcp,tcp6,udp,udp6}, the local ports of the listening (TCP) or
// bound (UDP) sockets whose inode is in inodes.
func procNetListeners(t *testing.T, pid int, inodes map[string]bool) (tcp, udp []int) {
	t.Helper()
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			_, portHex, _ := strings.Cut(fields[1], ":")
			var port int
			fmt.Sscanf(portHex, "%X", &port)
			switch {
			case strings.HasPrefix(f, "tcp") && fields[3] == "0A": // LISTEN
				tcp = append(tcp, port)
			case strings.HasPrefix(f, "udp"):
				udp = append(udp, port)
			}
		}
	}
	return tcp, udp
}

// The process listens on one TCP port — the one it serves on — and on no UDP port; its control surface is a Unix
// socket in a 0700 directory, mode 0600.
func TestOnlyThePublicListenerIsOnTheNetwork(t *testing.T) {
	runtimeDir := t.TempDir()
	cmd := Command(WithAddr([]string{"serve", "--ephemeral"})...)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir)
	p := StartCmd(t, cmd)
	u, _ := url.Parse(p.URL)
	var wantPort int
	fmt.Sscan(u.Port(), &wantPort)
	pid := p.cmd.Process.Pid
	inodes := socketInodes(t, pid)
	tcp, udp := procNetListeners(t, pid, inodes)
	if len(tcp) != 1 || tcp[0] != wantPort || len(udp) != 0 {
		t.Errorf("listening TCP ports %v (want only %d), UDP ports %v", tcp, wantPort, udp)
	}
	// The Unix sockets it listens on: the control socket, and nothing reachable from the network.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/unix", pid))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && inodes[f[6]] {
			paths = append(paths, f[7])
		}
	}
	sock := filepath.Join(runtimeDir, "mcpwatch", "control-"+u.Port()+".sock")
	if len(paths) != 1 || paths[0] != sock {
		t.Fatalf("Unix sockets %v, want the control socket %s", paths, sock)
	}
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := os.Stat(filepath.Dir(sock))
	if st.Mode().Perm() != 0o600 || dir.Mode().Perm() != 0o700 {
		t.Errorf("control socket mode %v, its directory %v", st.Mode().Perm(), dir.Mode().Perm())
	}
	// That socket is where the toggles are switched (the public listener has no such route: server's
	// TestNoControlOnThePublicListener).
	cmdList := Command("fault", "set", "slow=1ms", "--port", u.Port())
	cmdList.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "XDG_STATE_HOME="+p.StateDir)
	if r := RunCmd(t, 30*time.Second, cmdList); r.Code != 0 {
		t.Errorf("mcpwatch fault set over the socket: exit %d\n%s", r.Code, r.Stderr)
	}
}

// Secrets are redacted in every export format of a real OAuth run: the access and refresh tokens, codes, PKCE
// verifiers and client secrets the clients obtained never appear, unless --no-redact (which shows them: the test
// would notice a run that had none to hide).
func TestExportRedactsARealOAuthRun(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "oauth.jsonl")
	p := Start(t, "serve", "--auto-approve", "--ephemeral", "--capture", capture)
	mcp := p.URL + "/mcp"
	var mu sync.Mutex
	secrets := map[string]string{} // value → kind
	observe := func(s loadgen.Secret) {
		mu.Lock()
		secrets[s.Value] = s.Kind
		mu.Unlock()
	}
	for _, cfg := range []loadgen.Config{
		{Mode: loadgen.ModeHandshake, Refresh: true},
		{Mode: loadgen.ModeHandshake, Refresh: true, ConfidentialClients: true},
		{Mode: loadgen.ModeHandshake, Era: loadgen.Era2026},
	} {
		cfg.URL, cfg.Clients, cfg.Duration, cfg.Observe = mcp, 1, 250*time.Millisecond, observe
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil || res.Errors > 0 || res.Completed == 0 {
			t.Fatalf("handshakes: %v\n%s", err, res)
		}
	}
	p.Stop()
	kinds := map[string]int{}
	for _, k := range secrets {
		kinds[k]++
	}
	for _, k := range []string{"access_token", "refresh_token", "code", "code_verifier", "client_secret"} {
		if kinds[k] == 0 {
			t.Fatalf("the run obtained no %s (%v)", k, kinds)
		}
	}
	for _, f := range []string{"har", "jsonl", "markdown", "curl"} {
		r := Run(t, time.Minute, "export", capture, "--format", f)
		if r.Code != 0 || r.Stdout == "" {
			t.Fatalf("%s: exit %d\n%s", f, r.Code, r.Stderr)
		}
		leaked := 0
		for v, kind := range secrets {
			if strings.Contains(r.Stdout, v) {
				leaked++
				if leaked <= 3 {
					t.Errorf("%s export holds a %s", f, kind)
				}
			}
		}
		if leaked > 3 {
			t.Errorf("%s export holds %d secrets in all", f, leaked)
		}
		raw := Run(t, time.Minute, "export", capture, "--format", f, "--no-redact")
		shown := 0
		for v := range secrets {
			if strings.Contains(raw.Stdout, v) {
				shown++
			}
		}
		if raw.Code != 0 || shown == 0 {
			t.Errorf("%s --no-redact: exit %d, %d of %d secrets shown", f, raw.Code, shown, len(secrets))
		}
	}
	t.Logf("%d secrets of the run (%v), none in any export", len(secrets), kinds)
}
