package tui

import (
	"net/url"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/export"
)

// curlCommand is a request as a curl command that replays it: the export package's renderer (the one `mcpwatch
// export --format curl` uses, binary bodies through base64 on stdin), not redacted — this is for the user's own
// clipboard. An inbound request is sent to base (the address it reached mcpwatch on); an outbound one to its own
// URL.
func curlCommand(ex *recorder.Exchange, base string) string {
	return strings.TrimSuffix(export.CurlCommand(ex, base), "\n")
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
