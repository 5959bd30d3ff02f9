// Package loadgen drives an MCP server with concurrent clients and checks every response it gets: the HTTP
// status, the JSON-RPC shape (version, id, a result and no error) and the tool's answer, and in the OAuth
// handshake every step of discovery, registration, authorization and token exchange. It reports throughput,
// latency percentiles and the errors it found, grouped by step and reason.
//
// Three modes:
//
//   - call: each client opens a session once (after an OAuth handshake when Config.Auth is set) and then calls
//     the echo tool in a loop; an operation is one tools/call. With Config.Rate the calls are paced instead: sent
//     at that many per second overall, each timed from the moment the schedule meant to send it (paced.go).
//   - setup: each client sets up whole legacy-era sessions in a loop, without auth: initialize (checked as in
//     call mode, with its Mcp-Session-Id), notifications/initialized (202), DELETE (200, 202 or 204: a server that
//     refuses to end sessions fails); an operation is one session, set up and ended.
//   - handshake: each client runs whole handshakes in a loop, as a fresh connector does: 401 challenge →
//     resource metadata → authorization server metadata → registration → authorization → token → initialize and
//     notifications/initialized (or server/discover) → tools/list → tools/call (→ refresh and tools/call again with
//     Config.Refresh) → DELETE; an operation is one handshake.
//
// Two eras: legacy (initialize at 2025-11-25, Mcp-Session-Id) and 2026 (2026-07-28, stateless: server/discover,
// the per-request _meta and Mcp-Method/Mcp-Name headers).
//
// The load generator's command is bench/cmd/mcpload; bench/cmd/mcpbench uses this package for the benchmark table.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a client does in a loop.
type Mode string

const (
	ModeCall      Mode = "call"
	ModeHandshake Mode = "handshake"
	ModeSetup     Mode = "setup"
)

// Era is the protocol era the clients speak.
type Era string

const (
	EraLegacy Era = "legacy"
	Era2026   Era = "2026"
)

// The protocol versions the clients ask for.
const (
	legacyVersion = "2025-11-25"
	version2026   = "2026-07-28"
)

// Config is a run.
type Config struct {
	// URL is the MCP endpoint, e.g. http://127.0.0.1:4000/mcp.
	URL  string
	Mode Mode // default ModeCall
	Era  Era  // default EraLegacy
	// Clients is the number of concurrent clients (default 16).
	Clients int
	// Warmup runs before the measured window (default none); Duration is the measured window (default 5 s).
	Warmup, Duration time.Duration
	// Auth: in call mode, each client first runs the OAuth handshake and calls with its token.
	Auth bool
	// Refresh: in handshake mode, refresh the token after the first tools/call and call again with the new one.
	Refresh bool
	// ConfidentialClients registers clients with client_secret_post (they get a secret and present it).
	ConfidentialClients bool
	// CallsPerSession, in call mode, ends a client's session (DELETE) after that many calls and opens a new one, as
	// clients that reconnect do (0: one session per client for the whole run).
	CallsPerSession int
	// Tool is the echo tool's name (default "echo"): it must answer with a text content equal to arguments.text.
	Tool string
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
	// Header is added to every request ("Host" sets the Host header).
	Header http.Header
	// Observe, when set, is called (from any client's goroutine) with every secret the run obtained or sent.
	Observe func(Secret)
	// Transport, when set, is used instead of a transport sized for Clients.
	Transport http.RoundTripper
	// MaxOps, when set, ends the run after that many operations (all clients together, each one checked), or when
	// Duration passes first: a run by count (memory after N exchanges), measured from the start (no warm-up).
	MaxOps int64
	// Rate, when set (call mode only), paces the calls: that many per second overall, on a fixed schedule that does
	// not wait for answers, sent by whichever of the Clients is free (an open loop; see paced.go). Latency is then
	// measured from each call's scheduled time, so a slow answer counts for every call it held back.
	Rate float64
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeCall
	}
	if c.Era == "" {
		c.Era = EraLegacy
	}
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Tool == "" {
		c.Tool = "echo"
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports a config that cannot run.
func (c *Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("no URL")
	case c.Mode != "" && c.Mode != ModeCall && c.Mode != ModeHandshake && c.Mode != ModeSetup:
		return fmt.Errorf("mode %q: want call, handshake or setup", c.Mode)
	case c.Era != "" && c.Era != EraLegacy && c.Era != Era2026:
		return fmt.Errorf("era %q: want legacy or 2026", c.Era)
	case c.Mode == ModeSetup && (c.Era == Era2026 || c.Auth):
		return errors.New("setup mode sets up legacy-era sessions without auth (the 2026 era has no sessions; an OAuth handshake per session is handshake mode)")
	case c.Rate < 0 || (c.Rate > 0 && c.Mode != "" && c.Mode != ModeCall):
		return fmt.Errorf("rate %g: a positive number of calls per second, in call mode only", c.Rate)
	case c.Rate > 0 && c.MaxOps > 0:
		return errors.New("a paced run (rate) is measured over a window, not by count (max ops)")
	case c.Rate > maxRate:
		return fmt.Errorf("rate %g: at most %d calls per second", c.Rate, maxRate)
	}
	return nil
}

// NewTransport returns an HTTP transport that keeps a connection per client alive.
func NewTransport(clients int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: clients * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

func (c *Config) httpClient() *http.Client {
	rt := c.Transport
	if rt == nil {
		rt = NewTransport(c.Clients)
	}
	return &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Run runs the load until the warm-up and the measured window have passed or ctx ends, then waits for every
// client to finish its operation (and end its session). Only operations that complete inside the window count
// toward Ops and Latency; every request counts toward Sent, Answered and Status.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	hc := cfg.httpClient()
	if t, ok := hc.Transport.(*http.Transport); ok && cfg.Transport == nil {
		defer t.CloseIdleConnections()
	}
	if cfg.Rate > 0 {
		rs, err := runPaced(ctx, cfg, hc, []string{cfg.URL})
		return rs[0], err
	}

	var measuring atomic.Bool
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	all := make([]*workerStats, cfg.Clients)
	var wg sync.WaitGroup
	var left *atomic.Int64
	if cfg.MaxOps > 0 {
		left = new(atomic.Int64)
		left.Store(cfg.MaxOps)
		measuring.Store(true)
	}
	for i := range cfg.Clients {
		all[i] = newWorkerStats()
		c := &Client{hc: hc, cfg: &cfg, stats: all[i], timeout: cfg.Timeout, left: left}
		wg.Go(func() { c.work(runCtx, i, &measuring) })
	}

	var window time.Duration
	if left != nil {
		t0 := time.Now()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		t := time.NewTimer(cfg.Duration)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		measuring.Store(false)
		window = time.Since(t0)
	} else if sleep(ctx, cfg.Warmup) {
		measuring.Store(true)
		t0 := time.Now()
		sleep(ctx, cfg.Duration)
		measuring.Store(false)
		window = time.Since(t0)
	}
	stop()
	wg.Wait()
	res := &Result{Mode: cfg.Mode, Era: cfg.Era, Clients: cfg.Clients, Duration: window}
	merge(res, all)
	return res, ctx.Err()
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// work is one client's loop. ctx ending stops it between operations; the operation in flight finishes (with
// a background context, so that the server sees whole requests and the counts stay exact).
func (c *Client) work(ctx context.Context, worker int, measuring *atomic.Bool) {
	bg := context.WithoutCancel(ctx)
	var sess *Session
	defer func() {
		if sess != nil {
			if err := c.Close(bg, sess); err != nil {
				c.stats.fail(err)
			}
		}
	}()
	backoff := func() {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	calls := 0
	for n := 0; ctx.Err() == nil; n++ {
		if c.left != nil && c.left.Add(-1) < 0 {
			return // the run's count is done
		}
		t0 := time.Now()
		var err error
		switch c.cfg.Mode {
		case ModeHandshake:
			err = c.handshake(bg, worker, n)
		case ModeSetup:
			err = c.setup(bg)
		default:
			if sess != nil && c.cfg.CallsPerSession > 0 && calls >= c.cfg.CallsPerSession {
				err, sess, calls = c.Close(bg, sess), nil, 0
				if err != nil {
					c.stats.fail(err)
				}
			}
			if sess == nil {
				if sess, err = c.open(bg); err != nil {
					sess = nil
					c.stats.fail(err)
					backoff()
					continue
				}
				t0 = time.Now()
			}
			err = c.CallEcho(bg, sess, c.cfg.Tool, echoText(worker, n))
			calls++
			var se *StepError
			if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusUnauthorized) {
				sess = nil // the session (or the token) is gone: open a new one
			}
		}
		if err != nil {
			c.stats.fail(err)
			backoff()
			continue
		}
		c.stats.completed++
		if measuring.Load() {
			c.stats.ops++
			c.stats.lat = append(c.stats.lat, time.Since(t0))
		}
	}
}

// open starts a call-mode session, after an OAuth handshake when the run uses auth.
func (c *Client) open(ctx context.Context) (*Session, error) {
	token := ""
	if c.cfg.Auth {
		g, err := c.Authorize(ctx, c.cfg.URL, c.cfg.Era)
		if err != nil {
			return nil, err
		}
		token = g.AccessToken
	}
	return c.Open(ctx, c.cfg.URL, c.cfg.Era, token)
}

// setup is one whole legacy-era session without a call: initialize, notifications/initialized, DELETE, each
// response checked; the DELETE must end the session (a 405 fails here, where Close accepts it).
func (c *Client) setup(ctx context.Context) error {
	s, err := c.Open(ctx, c.cfg.URL, EraLegacy, "")
	if err != nil {
		return err
	}
	r, err := c.do(ctx, "DELETE", http.MethodDelete, s.URL, c.mcpHeader(s, "", ""), nil)
	if err != nil {
		return err
	}
	return expectStatus("DELETE", r, http.StatusOK, http.StatusNoContent, http.StatusAccepted)
}

// handshake is one whole connection, as a fresh connector makes it.
func (c *Client) handshake(ctx context.Context, worker, n int) error {
	g, err := c.Authorize(ctx, c.cfg.URL, c.cfg.Era)
	if err != nil {
		return err
	}
	s, err := c.Open(ctx, c.cfg.URL, c.cfg.Era, g.AccessToken)
	if err != nil {
		return err
	}
	if err := c.ListTools(ctx, s, c.cfg.Tool); err != nil {
		return err
	}
	if err := c.CallEcho(ctx, s, c.cfg.Tool, echoText(worker, n)); err != nil {
		return err
	}
	if c.cfg.Refresh {
		if err := c.Refresh(ctx, g); err != nil {
			return err
		}
		s.Token, s.callHeader = g.AccessToken, nil
		if err := c.CallEcho(ctx, s, c.cfg.Tool, echoText(worker, n)+" refreshed"); err != nil {
			return err
		}
	}
	return c.Close(ctx, s)
}
