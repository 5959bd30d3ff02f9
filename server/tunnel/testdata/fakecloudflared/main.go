// Command fakecloudflared stands in for cloudflared in tests (it is put first on PATH as "cloudflared"). For
// `cloudflared tunnel --url URL` it prints what a real quick tunnel prints, in the same format (the banner box from
// cloudflared's cmd/cloudflared/tunnel/quick_tunnel.go, zerolog console lines), then acts as the edge: it listens
// on loopback and forwards every request to URL the way the tunnel does (Host = the public host,
// X-Forwarded-Proto: https, X-Forwarded-For and Cf-Connecting-Ip = the client). It also starts a child process,
// so tests can check that the whole process group is stopped.
//
// Environment:
//
//	FAKE_CLOUDFLARED_DIR          where to write args, pid, child (pid) and edge (host:port) files
//	FAKE_CLOUDFLARED_HOST         the public host (default ample-words-here-demo.trycloudflare.com); "{port}" in it is
//	                              the origin's port, for several tunnels at once (each also writes edge-PORT)
//	FAKE_CLOUDFLARED_FAIL=1       print the output of a failed quick tunnel request and exit 1
//	FAKE_CLOUDFLARED_IGNORE_TERM=1 ignore SIGTERM, the child too (tests the SIGKILL escalation)
//	FAKE_CLOUDFLARED_STUBBORN_CHILD=1 only the child ignores SIGTERM (tests that the group is killed)
//	FAKE_CLOUDFLARED_EXIT_AFTER=DURATION exit with status 1 that long after the tunnel is up (a lost tunnel)
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const disclaimer = "Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. However, be aware that these account-less Tunnels have no uptime guarantee, are subject to the Cloudflare Online Services Terms of Use (https://www.cloudflare.com/website-terms/), and Cloudflare reserves the right to investigate your use of Tunnels for violations of such terms. If you intend to use Tunnels in production you should use a pre-created named tunnel by following: https://developers.cloudflare.com/cloudflare-one/connections/connect-apps"

func logf(level, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s %s\n", time.Now().UTC().Format(time.RFC3339), level, fmt.Sprintf(format, args...))
}

func asciiBox(lines []string, padding int) []string {
	maxLen := 0
	for _, l := range lines {
		maxLen = max(maxLen, len(l))
	}
	spacer := strings.Repeat(" ", padding)
	border := "+" + strings.Repeat("-", maxLen+padding*2) + "+"
	box := []string{border}
	for _, l := range lines {
		box = append(box, "|"+spacer+l+strings.Repeat(" ", maxLen-len(l))+spacer+"|")
	}
	return append(box, border)
}

func main() {
	dir := os.Getenv("FAKE_CLOUDFLARED_DIR")
	write := func(name, s string) {
		if dir != "" {
			os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600)
		}
	}
	write("args", strings.Join(os.Args[1:], " "))
	write("pid", fmt.Sprint(os.Getpid()))
	var origin string
	for i, a := range os.Args {
		if a == "--url" && i+1 < len(os.Args) {
			origin = os.Args[i+1]
		}
	}
	if len(os.Args) < 2 || os.Args[1] != "tunnel" || origin == "" {
		fmt.Fprintln(os.Stderr, "fakecloudflared: want `tunnel --url URL`")
		os.Exit(2)
	}
	host := os.Getenv("FAKE_CLOUDFLARED_HOST")
	if host == "" {
		host = "ample-words-here-demo.trycloudflare.com"
	}
	originPort := ""
	if u, err := url.Parse(origin); err == nil {
		originPort = u.Port()
	}
	host = strings.ReplaceAll(host, "{port}", originPort)

	logf("INF", "%s", disclaimer)
	logf("INF", "Requesting new quick Tunnel on trycloudflare.com...")
	if os.Getenv("FAKE_CLOUDFLARED_FAIL") == "1" {
		logf("ERR", `Error unmarshaling QuickTunnel response: error code: 1015 error="invalid character 'e' looking for beginning of value" status_code="429 Too Many Requests"`)
		fmt.Fprintln(os.Stderr, `failed to unmarshal quick Tunnel: invalid character 'e' looking for beginning of value`)
		os.Exit(1)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logf("ERR", "%v", err)
		os.Exit(1)
	}
	target, err := url.Parse(origin)
	if err != nil {
		logf("ERR", "%v", err)
		os.Exit(1)
	}
	edge := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = host
			ip, _, _ := net.SplitHostPort(pr.In.RemoteAddr)
			pr.Out.Header.Set("X-Forwarded-For", ip)
			pr.Out.Header.Set("X-Forwarded-Proto", "https")
			pr.Out.Header.Set("Cf-Connecting-Ip", ip)
			pr.Out.Header.Set("Cf-Ray", "8f00000000000000-AMS")
		},
		FlushInterval: -1,
	}
	go http.Serve(ln, edge)

	child := exec.Command("sleep", "3600")
	if os.Getenv("FAKE_CLOUDFLARED_IGNORE_TERM") == "1" || os.Getenv("FAKE_CLOUDFLARED_STUBBORN_CHILD") == "1" {
		child = exec.Command("sh", "-c", "trap '' TERM; exec sleep 3600") // an ignored signal stays ignored across exec
	}
	if err := child.Start(); err == nil {
		write("child", fmt.Sprint(child.Process.Pid))
	}

	write("edge-"+originPort, ln.Addr().String())
	write("edge", ln.Addr().String()) // before the banner: once the URL is out, tests may use the edge
	for _, l := range asciiBox([]string{"Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):", "https://" + host}, 2) {
		logf("INF", "%s", l)
	}
	logf("INF", "Cannot determine default configuration path. No file [config.yml config.yaml] in [~/.cloudflared ~/.cloudflare-warp ~/cloudflare-warp /etc/cloudflared /usr/local/etc/cloudflared]")
	logf("INF", "Version 2025.8.1 (Checksum 0000000000000000000000000000000000000000000000000000000000000000)")
	logf("INF", "Starting metrics server on 127.0.0.1:20241/metrics")
	logf("INF", "Registered tunnel connection connIndex=0 connection=00000000-0000-4000-8000-000000000000 event=0 ip=198.41.200.13 location=ams01 protocol=quic")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if d, err := time.ParseDuration(os.Getenv("FAKE_CLOUDFLARED_EXIT_AFTER")); err == nil {
		time.AfterFunc(d, func() {
			logf("ERR", "Serve tunnel error error=\"connection with edge closed\" connIndex=0")
			if child.Process != nil {
				child.Process.Kill()
			}
			os.Exit(1)
		})
	}
	for s := range sigs {
		if os.Getenv("FAKE_CLOUDFLARED_IGNORE_TERM") == "1" {
			logf("INF", "ignoring %v", s)
			continue
		}
		logf("INF", "Initiating graceful shutdown due to signal %s ...", s)
		os.Exit(0)
	}
}
