// Package tunnel runs a Cloudflare quick tunnel (`cloudflared tunnel --url http://ADDR`) beside mcpwatch: it starts
// cloudflared, reads the public URL from its output, reports when cloudflared exits (it never restarts it: a new
// quick tunnel has a new URL, which would break the connector the user pasted), and stops it — its whole process
// group, SIGTERM then SIGKILL — when mcpwatch exits.
package tunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// errNotInstalled means cloudflared is not on PATH; its message says how to install it.
var errNotInstalled = errors.New("cloudflared is not on PATH\n" + installHelp)

// installHelp says how to install cloudflared.
const installHelp = `--tunnel runs Cloudflare's cloudflared, which is not installed. Install it, then run mcpwatch again:
  Debian/Ubuntu (Cloudflare's package repository):
    sudo mkdir -p --mode=0755 /usr/share/keyrings
    curl -fsSL https://pkg.cloudflare.com/cloudflare-main.gpg | sudo tee /usr/share/keyrings/cloudflare-main.gpg >/dev/null
    echo 'deb [signed-by=/usr/share/keyrings/cloudflare-main.gpg] https://pkg.cloudflare.com/cloudflared any main' | sudo tee /etc/apt/sources.list.d/cloudflared.list
    sudo apt-get update && sudo apt-get install cloudflared
  macOS: brew install cloudflared
  Others: https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/
Or run any tunnel yourself and pass its public URL with --public-url`

// BufferingNote is what the UI says about quick tunnels and GET event streams.
const BufferingNote = "quick tunnels deliver a GET event stream only when it closes (cloudflare/cloudflared#1449): " +
	"server-to-client messages on the GET stream may not arrive live; POST responses stream normally"

// Options configure Start.
type Options struct {
	// Origin is the local URL cloudflared forwards to (http://127.0.0.1:PORT).
	Origin string
	// Binary is the executable (default "cloudflared", looked up on PATH).
	Binary string
	// Logger receives cloudflared's output, one record per line (nil: discarded).
	Logger *slog.Logger
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (default 5s).
	StopTimeout time.Duration
}

// Tunnel is a running cloudflared.
type Tunnel struct {
	opts Options
	cmd  *exec.Cmd

	mu      sync.Mutex
	url     string
	tail    []string // the last lines of output, for error messages
	waitErr error

	urlReady  chan struct{} // closed when the URL is known
	connected chan struct{} // closed when cloudflared registered its first connection to the edge
	exited    chan struct{} // closed when the process has exited and its output is drained
	stopOnce  sync.Once
	stopping  chan struct{}
}

const tailLines = 20

// Start starts cloudflared. It returns once the process runs; WaitURL waits for the public URL.
func Start(opts Options) (*Tunnel, error) {
	if opts.Binary == "" {
		opts.Binary = "cloudflared"
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	path, err := exec.LookPath(opts.Binary)
	if err != nil {
		if opts.Binary == "cloudflared" {
			return nil, errNotInstalled
		}
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	// --no-autoupdate: cloudflared would otherwise replace and restart itself, and a restarted quick tunnel
	// gets a new URL behind the user's back.
	cmd := exec.Command(path, "tunnel", "--no-autoupdate", "--url", opts.Origin)
	setProcAttr(cmd)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("tunnel: starting %s: %w", path, err)
	}
	pw.Close() // the child holds its own copy; EOF on pr means every writer is gone
	t := &Tunnel{
		opts:      opts,
		cmd:       cmd,
		urlReady:  make(chan struct{}),
		connected: make(chan struct{}),
		exited:    make(chan struct{}),
		stopping:  make(chan struct{}),
	}
	opts.Logger.Info("cloudflared started", "pid", cmd.Process.Pid, "args", strings.Join(cmd.Args, " "))
	go t.run(pr)
	return t, nil
}

func (t *Tunnel) run(pr *os.File) {
	var p parser
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.opts.Logger.Info("cloudflared", "line", line)
		t.mu.Lock()
		t.tail = append(t.tail, line)
		if len(t.tail) > tailLines {
			t.tail = t.tail[len(t.tail)-tailLines:]
		}
		t.mu.Unlock()
		if u, ok := p.feed(line); ok {
			t.mu.Lock()
			t.url = u
			t.mu.Unlock()
			close(t.urlReady)
		}
		if strings.Contains(line, "Registered tunnel connection") {
			select {
			case <-t.connected:
			default:
				close(t.connected)
			}
		}
	}
	pr.Close()
	err := t.cmd.Wait()
	t.mu.Lock()
	t.waitErr = err
	t.mu.Unlock()
	t.opts.Logger.Info("cloudflared exited", "err", err)
	close(t.exited)
}

// WaitURL waits for the public URL; it fails when cloudflared exits first (with its last lines of output) or ctx
// ends.
func (t *Tunnel) WaitURL(ctx context.Context) (string, error) {
	select {
	case <-t.urlReady:
		return t.URL(), nil
	case <-t.exited:
		select {
		case <-t.urlReady:
			return t.URL(), nil
		default:
		}
		return "", fmt.Errorf("cloudflared exited before it printed a tunnel URL (%v); its last lines:\n  %s", t.Err(), strings.Join(t.Tail(), "\n  "))
	case <-ctx.Done():
		return "", fmt.Errorf("no tunnel URL from cloudflared yet: %w", ctx.Err())
	}
}

// URL returns the public URL, or "" while it is not known.
func (t *Tunnel) URL() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.url
}

// Connected is closed when cloudflared has registered its first connection to Cloudflare's edge (the URL may
// answer a few seconds before or after).
func (t *Tunnel) Connected() <-chan struct{} { return t.connected }

// Done is closed when cloudflared has exited (on its own or through Stop).
func (t *Tunnel) Done() <-chan struct{} { return t.exited }

// Stopping reports whether Stop was called (so an exit is expected).
func (t *Tunnel) Stopping() bool {
	select {
	case <-t.stopping:
		return true
	default:
		return false
	}
}

// Err is how cloudflared exited (nil while running, or after a clean exit).
func (t *Tunnel) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitErr
}

// Tail returns cloudflared's last lines of output.
func (t *Tunnel) Tail() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.tail...)
}

// Pid is cloudflared's process id (its process group id too).
func (t *Tunnel) Pid() int { return t.cmd.Process.Pid }

// Stop ends cloudflared and everything in its process group: SIGTERM, then SIGKILL after StopTimeout. It waits
// for the exit and is safe to call more than once.
func (t *Tunnel) Stop() {
	t.stopOnce.Do(func() {
		close(t.stopping)
		select {
		case <-t.exited:
		default:
			signalGroup(t.cmd, false)
			select {
			case <-t.exited:
			case <-time.After(t.opts.StopTimeout):
				t.opts.Logger.Warn("cloudflared ignored SIGTERM; killing it", "after", t.opts.StopTimeout)
				signalGroup(t.cmd, true)
				<-t.exited
			}
		}
		signalGroup(t.cmd, true) // whatever of its group outlived it
	})
}

// parser finds the quick tunnel's URL in cloudflared's log: the first https URL inside the ASCII box that follows
// "Your quick Tunnel has been created!" (RunQuickTunnel in cloudflared's cmd/cloudflared/tunnel/quick_tunnel.go):
//
//	2024-06-23T18:35:10Z INF +--------------------------------------------------------------------------------------------+
//	2024-06-23T18:35:10Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |
//	2024-06-23T18:35:10Z INF |  https://retail-curves-bernard-affairs.trycloudflare.com                                   |
//	2024-06-23T18:35:10Z INF +--------------------------------------------------------------------------------------------+
//
// Only boxed lines count, so an error quoting https://api.trycloudflare.com is never taken for the tunnel. If the
// banner's wording changes, a boxed *.trycloudflare.com URL is still found. Works with --logformat json too.
type parser struct {
	sawBanner bool
	done      bool
}

var boxedURL = regexp.MustCompile(`\|\s+(https://[^\s|"\\]+)\s+\|`)

func (p *parser) feed(line string) (string, bool) {
	if p.done {
		return "", false
	}
	if strings.Contains(line, "quick Tunnel has been created") {
		p.sawBanner = true
		return "", false
	}
	m := boxedURL.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	u := strings.TrimRight(m[1], "/")
	if p.sawBanner || strings.HasSuffix(hostOf(u), ".trycloudflare.com") {
		p.done = true
		return u, true
	}
	return "", false
}

func hostOf(u string) string {
	h := strings.TrimPrefix(u, "https://")
	if i := strings.IndexAny(h, "/:"); i >= 0 {
		h = h[:i]
	}
	return strings.ToLower(h)
}
