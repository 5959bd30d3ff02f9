package export

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// hopByHop are the headers a replay leaves to curl: they describe one connection or the body's framing.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "content-length": true, "host": true,
}

// Headers a tunnel or proxy adds on its way to the server: a replay through the original URL gets them again from
// the tunnel, so they are only sent when replaying straight at a server (--base).
func proxyAdded(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "forwarded", "x-real-ip",
		"true-client-ip", "via", "cdn-loop":
		return true
	}
	return strings.HasPrefix(n, "cf-")
}

// maxInlineBody is the largest body passed as a quoted argument; larger ones (and any that is not plain text)
// go through base64 on stdin, clear of the kernel's per-argument limit (128 KiB).
const maxInlineBody = 64 << 10

// curlAddsExpect is the body size from which curl sends "Expect: 100-continue" by itself.
const curlAddsExpect = 1024

// WriteCurl writes a bash script with one curl command per inbound request, in the order they started, each
// sending the method, the headers (hop-by-hop ones and Content-Length aside, curl's own defaults removed when the
// client did not send them) and the exact body bytes. Outbound requests (mcpwatch's own fetches) are listed as
// comments. With Options.Base the requests go to that server instead of the one the client used.
func WriteCurl(w io.Writer, exs []*recorder.Exchange, opts Options) error {
	return Write(w, Curl, exs, opts)
}

func curlBase(s string) (string, error) {
	base := strings.TrimRight(s, "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("curl: --base %q: want an absolute http(s) URL such as http://localhost:4000", s)
		}
	}
	return base, nil
}

func writeCurl(w io.Writer, d *doc) error {
	base, err := curlBase(d.opts.Base)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	in, out := 0, 0
	for _, ex := range d.keys {
		if ex.out {
			out++
		} else {
			in++
		}
	}
	fmt.Fprintln(bw, "#!/usr/bin/env bash")
	fmt.Fprintf(bw, "# Replays an mcpwatch capture with curl: %s", plural(in, "request"))
	if out > 0 {
		fmt.Fprintf(bw, " (and %s mcpwatch made itself, as comments)", plural(out, "outbound request"))
	}
	fmt.Fprintln(bw, ".")
	if len(d.keys) > 0 {
		fmt.Fprintf(bw, "# Recorded %s to %s; written by mcpwatch %s.\n", d.keys[0].start.Format("2006-01-02 15:04:05 MST"),
			d.keys[len(d.keys)-1].start.Format("15:04:05 MST"), d.opts.Version)
	}
	if d.red != nil {
		fmt.Fprintln(bw, "# Secrets are redacted ([REDACTED]): requests that carried them will be refused. Export with")
		fmt.Fprintln(bw, "# --no-redact to replay them as they were.")
	} else {
		fmt.Fprintln(bw, "# NOT redacted: this script holds the live secrets of the recorded handshake.")
	}
	if base != "" {
		fmt.Fprintf(bw, "# Sent straight to %s instead of the URL the client used, with the headers the server saw.\n", base)
	} else {
		fmt.Fprintln(bw, "# Headers a tunnel adds (X-Forwarded-*, Cf-*, Cdn-Loop) are left out: it adds them again.")
	}
	n := 0
	d.each(func(_ int, ex *recorder.Exchange) {
		n++
		fmt.Fprintln(bw)
		cmd := curlCommand(n, ex, base)
		d.written(ex)
		if ex.Kind == recorder.Outbound {
			fmt.Fprintf(bw, "# %d. %s (outbound: mcpwatch made this request itself; not replayed)\n", n, d.curlTitle(ex))
			for _, l := range strings.Split(strings.TrimSuffix(cmd, "\n"), "\n") {
				fmt.Fprintln(bw, "#   "+l)
			}
			return
		}
		fmt.Fprintf(bw, "# %d. %s\n", n, d.curlTitle(ex))
		if ex.ReqBody.Truncated {
			fmt.Fprintf(bw, "# The recorded body was truncated (%d of %d bytes): only the recorded part is sent.\n", len(ex.ReqBody.Data), ex.ReqBody.Size)
		}
		bw.WriteString(cmd)
		fmt.Fprintln(bw, "echo")
	})
	return bw.Flush()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (d *doc) curlTitle(ex *recorder.Exchange) string {
	t := fmt.Sprintf("%s — %s %s", d.stage(ex), ex.Method, oneLine(ex.Target()))
	if m := ex.RPCMethod(); m != "" {
		t += " (" + m + ")"
	}
	if ex.Status != 0 {
		t += fmt.Sprintf(" → %d", ex.Status)
	} else if ex.Error != "" {
		t += " → " + oneLine(ex.Error)
	}
	return t
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// shq quotes s for bash: single quotes, with each ' written as '\”.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// plainText reports whether a body can be a quoted argument: UTF-8 without NUL or other control characters than
// tab, LF and CR, and not too long.
func plainText(b []byte) bool {
	if len(b) > maxInlineBody || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

// CurlCommand is one request as a curl command that replays it, as WriteCurl writes it (a body that is not plain
// text goes through base64 on stdin) but not redacted: the TUI's copy-as-curl, for the user's own clipboard. An
// inbound request goes to base when it is set (an absolute http(s) URL), else to the URL the client used.
func CurlCommand(ex *recorder.Exchange, base string) string {
	return curlCommand(1, ex, strings.TrimRight(base, "/"))
}

func curlCommand(n int, ex *recorder.Exchange, base string) string {
	var b strings.Builder
	target := absoluteURL(ex)
	if base != "" && ex.Kind != recorder.Outbound {
		target = base + ex.Target()
	}
	body := ex.ReqBody.Data
	hasBody := len(body) > 0
	inline := hasBody && plainText(body)
	if hasBody && !inline {
		fmt.Fprintf(&b, "base64 -d <<'MCPWATCH_BODY_%d' | ", n)
	}
	b.WriteString("curl -sS -i --globoff")
	switch {
	case ex.Method == "HEAD":
		b.WriteString(" --head")
	case ex.Method == "GET" && !hasBody:
	case ex.Method == "POST" && hasBody:
	default:
		b.WriteString(" -X " + shq(ex.Method))
	}
	if mediaType(ex.RespHeaders.Get("Content-Type")) == "text/event-stream" {
		b.WriteString(" -N")
		if ex.Method == "GET" {
			b.WriteString(" --max-time 10") // a GET stream stays open: cut the replay
		}
	}
	b.WriteString(" " + shq(target))
	sent := map[string]bool{}
	for _, h := range ex.ReqHeaders {
		name := strings.ToLower(h.Name)
		if hopByHop[name] || (base == "" && proxyAdded(name)) {
			continue
		}
		sent[name] = true
		if h.Value == "" {
			b.WriteString(" \\\n  -H " + shq(h.Name+";")) // curl's syntax for a header with an empty value
		} else {
			b.WriteString(" \\\n  -H " + shq(h.Name+": "+h.Value))
		}
	}
	// curl adds these unless told not to; the client did not send them.
	suppress := []string{"User-Agent", "Accept"}
	if hasBody {
		suppress = append(suppress, "Content-Type")
		if len(body) >= curlAddsExpect {
			suppress = append(suppress, "Expect")
		}
	}
	for _, s := range suppress {
		if !sent[strings.ToLower(s)] {
			b.WriteString(" \\\n  -H " + shq(s+":"))
		}
	}
	switch {
	case inline:
		b.WriteString(" \\\n  --data-raw " + shq(string(body)) + "\n")
	case hasBody:
		b.WriteString(" \\\n  --data-binary @-\n")
		enc := base64.StdEncoding.EncodeToString(body)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\n")
		fmt.Fprintf(&b, "MCPWATCH_BODY_%d\n", n)
	default:
		b.WriteString("\n")
	}
	return b.String()
}
