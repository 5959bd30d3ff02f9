package app

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/mcpwatch/mcpwatch/server/tunnel"
)

// ProbeTunnel starts a Cloudflare quick tunnel to the origin of local (the server a probe is given, `probe
// --tunnel`), waits for its public URL (bounded by tunnelStartTimeout) and returns it with the function that
// stops cloudflared. Progress goes to progress.
func ProbeTunnel(ctx context.Context, local string, progress io.Writer) (public string, stop func(), err error) {
	u, err := url.Parse(local)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("tunnel: %q is not a URL", local)
	}
	origin := u.Scheme + "://" + u.Host
	fmt.Fprintf(progress, "starting a quick tunnel to %s (cloudflared)…\n", origin)
	tun, err := tunnel.Start(tunnel.Options{Origin: origin})
	if err != nil {
		return "", nil, fmt.Errorf("tunnel: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, tunnelStartTimeout)
	public, err = tun.WaitURL(wctx)
	cancel()
	if err != nil {
		tun.Stop()
		return "", nil, fmt.Errorf("tunnel: %w", err)
	}
	fmt.Fprintf(progress, "tunnel up: %s\n", public)
	return public, tun.Stop, nil
}
