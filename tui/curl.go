package tui

import (
	"net/url"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// curlSkip are the headers curl sets itself or that describe the connection, not the request.
var curlSkip = map[string]bool{
	"host": true, "content-length": true, "connection": true, "keep-alive": true, "transfer-encoding": true,
	"upgrade": true, "te": true, "trailer": true, "proxy-connection": true, "accept-encoding": true,
}

// curlCommand writes a request as a curl command line that replays it. An inbound request is sent to base (the
// address it reached mcpwatch on); an outbound one to its own URL. Headers are kept as they were, the
// Authorization header included: this is for the user's own clipboard.
func curlCommand(ex *recorder.Exchange, base string) string {
	target := ex.URL
	if ex.Kind != recorder.Outbound {
		if base == "" {
			base = "http://" + ex.Host
		}
		target = strings.TrimRight(base, "/") + ex.URL
	}
	var b strings.Builder
	b.WriteString("curl")
	switch {
	case ex.Method == "HEAD":
		b.WriteString(" --head")
	case ex.Method == "GET", ex.Method == "POST" && len(ex.ReqBody.Data) > 0:
	default:
		b.WriteString(" -X " + shellQuote(ex.Method))
	}
	if strings.Contains(ex.ReqHeaders.Get("Accept"), "text/event-stream") {
		b.WriteString(" -N")
	}
	b.WriteString(" " + shellQuote(target))
	for _, h := range ex.ReqHeaders {
		if curlSkip[strings.ToLower(h.Name)] {
			continue
		}
		b.WriteString(" \\\n  -H " + shellQuote(h.Name+": "+h.Value))
	}
	if len(ex.ReqBody.Data) > 0 {
		if ex.ReqBody.IsText() {
			b.WriteString(" \\\n  --data-raw " + shellQuote(string(ex.ReqBody.Data)))
		} else {
			b.WriteString(" \\\n  --data-binary @request.bin  # the body is binary: save it as request.bin")
		}
		if ex.ReqBody.Truncated {
			b.WriteString("  # the recorder kept only part of the body")
		}
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// curlBase picks where a replayed inbound request goes: the public URL when it came through the tunnel, else
// the listen address.
func curlBase(ex *recorder.Exchange, listenURL, publicURL string) string {
	if publicURL != "" {
		if u, err := url.Parse(publicURL); err == nil && strings.EqualFold(u.Host, ex.Host) {
			return strings.TrimRight(publicURL, "/")
		}
	}
	return listenURL
}
