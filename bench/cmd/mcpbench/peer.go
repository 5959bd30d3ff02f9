package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/peers"
)

const peerUsage = `mcpbench peer KIND [--addr 127.0.0.1:0] [--upstream URL]: serve one of the servers mcpwatch is measured against.

  sdk            the official Go SDK alone, stateful (legacy era, sessions), the echo tool, at /mcp
  sdk-stateless  the same, stateless (2026-07-28)
  plain          a plain net/http JSON-RPC handler at /mcp (the limit), with a GET event stream
  revproxy       a bare httputil.ReverseProxy to --upstream (scheme://host)

Prints "peer KIND listening on http://ADDR" on stderr and serves until interrupted.
`

func cmdPeer(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, peerUsage)
		return errUsage
	}
	kind := args[0]
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
	upstream := fs.String("upstream", "", "revproxy: the upstream `URL` (scheme://host[:port])")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	var h http.Handler
	switch kind {
	case "sdk":
		h = peers.SDK(false)
	case "sdk-stateless":
		h = peers.SDK(true)
	case "plain":
		h = peers.Plain()
	case "revproxy":
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			return fmt.Errorf("revproxy needs --upstream http://HOST:PORT (got %q)", *upstream)
		}
		h = peers.ReverseProxy(u)
	default:
		fmt.Fprint(os.Stderr, peerUsage)
		return errUsage
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "peer %s listening on http://%s\n", kind, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
