// Package server is the HTTP side of mcpwatch: the listener, the chi router and the order of the middleware
// (capture outermost, then the Host/Origin guard, then toggles), and the routes of the embedded MCP server.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/mcpserver"
	"github.com/mcpwatch/mcpwatch/server/mcpserver/conformance"
	"github.com/mcpwatch/mcpwatch/server/oauth"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/mcpwatch/mcpwatch/server/toggle"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Fixture sets for --fixtures.
const fixturesConformance = "conformance"

// Config is what `mcpwatch serve` needs.
type Config struct {
	Addr      string // listen address, loopback only (default localhost:4000)
	PublicURL string // the tunnel's public URL, if known
	Fixtures  string // "" or FixturesConformance
	Logger    *slog.Logger
	Recorder  *recorder.Recorder // nil: nothing is recorded
	Toggles   *toggle.Set        // the toggles; nil: none

	// Authorization (server/oauth). /mcp and /sse require a bearer token unless NoAuth.
	NoAuth      bool
	AutoApprove bool   // approve every valid authorization request without the consent page
	ConsentCode string // when set, the consent page asks for it before approving (--consent-code)
	StatePath   string // OAuth state file (clients, grants, tokens); "" keeps them in memory
	// Scopes is scopes_supported (nil: oauth.DefaultScopes); RequiredScopes are needed at /mcp (401 challenge's
	// scope, 403 insufficient_scope).
	Scopes         []string
	RequiredScopes []string
	// AllowLoopbackCIMD lets client ID metadata documents (and JWKS) be fetched from this machine over http
	// (serve --allow-loopback-cimd, for testing a client of one's own; never with a public URL).
	AllowLoopbackCIMD bool

	// BodyTimeout bounds the wait for a request body on the embedded server's endpoints (default
	// DefaultBodyTimeout); a client that announces more than it sends gets an answer instead of a hung request.
	// Not applied in proxy mode, which streams request bodies to the upstream.
	BodyTimeout time.Duration

	// Handler, when set, serves every path and method instead of the embedded MCP and OAuth servers (proxy
	// mode), behind the same middleware (capture, guard, toggles).
	Handler http.Handler
	// EndpointPath is the MCP endpoint's path in the connector URL (default /mcp).
	EndpointPath string
}

// Server is the embedded MCP server behind its router.
type Server struct {
	cfg    Config
	guard  *publicurl.Guard
	mcp    *mcp.Server
	oauth  *oauth.AS // nil with NoAuth
	stop   func()
	router http.Handler

	toolsChangedMu sync.Mutex
	toolsChanged   bool          // the tools-changed toggle's tool is on the server
	toolsFlips     atomic.Uint64 // how many times the tool was added or removed
	ln             net.Listener
	http           *http.Server
	also           []*Server // served alongside (the watched authorization server's listener, in proxy mode)
}

// New builds the server and its routes; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "localhost:4000"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch cfg.Fixtures {
	case "", fixturesConformance:
	default:
		return nil, fmt.Errorf("unknown fixture set %q (valid: %s)", cfg.Fixtures, fixturesConformance)
	}
	guard, err := publicurl.NewGuard(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if cfg.EndpointPath == "" {
		cfg.EndpointPath = "/mcp"
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = defaultBodyTimeout
	}
	if cfg.Handler != nil { // proxy mode: no embedded servers
		if cfg.Toggles == nil {
			cfg.Toggles = toggle.NewSet(toggle.ModeProxy)
		}
		s := &Server{cfg: cfg, guard: guard, stop: func() {}}
		s.router = s.routes()
		return s, nil
	}
	if cfg.Toggles == nil {
		cfg.Toggles = toggle.NewSet(toggle.ModeServe)
	}
	var as *oauth.AS
	if !cfg.NoAuth {
		if as, err = newAuthServer(cfg); err != nil {
			return nil, err
		}
	}
	mopts := mcpserver.Options{Logger: cfg.Logger}
	if cfg.Fixtures == fixturesConformance {
		mopts.Fixtures = conformance.Fixtures()
	}
	ms, stopMCP := mcpserver.New(mopts)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopMCP()
			if as != nil {
				as.Close() // releases the state file's lock
			}
		})
	}
	s := &Server{cfg: cfg, guard: guard, mcp: ms, oauth: as, stop: stop}
	cfg.Toggles.OnChange(s.applyToolsChanged)
	cfg.Toggles.OnChange(s.applyAuthToggles)
	// Toggles set before New (--toggle, --scenario) apply from the first request, as live changes do.
	s.applyToolsChanged(nil)
	s.applyAuthToggles(nil)
	s.router = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mcpPath, _, _ := strings.Cut(s.cfg.EndpointPath, "?")
	if s.cfg.Handler != nil {
		// Proxy mode: one handler serves every path and method, so no router; the same middleware in the same
		// order, composed directly. chi's route context, request copy and path value cost 4 allocations and a
		// code path of their own on every request and on a stream's way to its first event (issue 18).
		h := toggle.Middleware(s.cfg.Toggles, toggle.Options{MCPPath: mcpPath})(s.cfg.Handler)
		h = smallBodyDeadline(s.cfg.BodyTimeout)(h) // bodies stream, except the small ones
		h = singleAuthorization(h)
		h = s.guard.Middleware(h)
		if s.cfg.Recorder != nil {
			h = s.cfg.Recorder.Middleware(h) // outermost: record exactly what crossed the wire
		}
		return h
	}
	r := chi.NewRouter()
	r.Use(bodyDeadline(s.cfg.BodyTimeout)) // outside the recorder, which reads what is left of a body after its handler answered
	if s.cfg.Recorder != nil {
		r.Use(s.cfg.Recorder.Middleware) // outermost: record exactly what crossed the wire
	}
	r.Use(s.guard.Middleware)
	r.Use(singleAuthorization)
	r.Use(toggle.Middleware(s.cfg.Toggles, toggle.Options{MCPPath: mcpPath}))

	hopts := mcpserver.HandlerOptions{
		Logger:              s.cfg.Logger,
		ForceStateless:      func() bool { return s.cfg.Toggles.Has(toggle.Stateless) },
		StrictVersionHeader: func() bool { return s.cfg.Toggles.Has(toggle.StrictVersionHeader) },
		OnVersionHeader: func(r *http.Request, sent, meta string, accepted bool) {
			if accepted {
				recorder.AddNote(r.Context(), mcpserver.NoteVersionHeader, fmt.Sprintf("accepted MCP-Protocol-Version: %s with _meta protocolVersion %s and served the request as %s (Claude through connectors does this, anthropics/claude-code#93290); a strict 2026-07-28 server answers 400 -32020 HeaderMismatch (toggle strict-version-header)", sent, meta, meta))
				return
			}
			recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggle.StrictVersionHeader.Name(), What: "request header MCP-Protocol-Version",
				Before: fmt.Sprintf("%s accepted beside _meta %s: served as %s", sent, meta, meta),
				After:  fmt.Sprintf("%s refused beside _meta %s: 400 -32020 HeaderMismatch", sent, meta)})
		},
		OnRoute: func(r *http.Request, era, why string) {
			recorder.AddNote(r.Context(), "era", mcpserver.RouteNote(era, why))
		},
		OnForcedStateless: func(r *http.Request, legacyWhy string) {
			recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggle.Stateless.Name(), What: "route",
				Before: mcpserver.EraLegacy + ": the stateful handler (" + legacyWhy + "; sessions, GET stream, DELETE)",
				After:  mcpserver.EraStateless + ": the stateless handler (no session; GET and DELETE 405)"})
		},
	}
	if s.cfg.Recorder == nil {
		hopts.OnRoute = nil // its note is recorded nowhere: not built for every request either
	}
	h := mcpserver.NewHandler(s.mcp, hopts)
	mcpH, sseH := s.watchToolsChanged(h), s.watchToolsChanged(h.SSE())
	if s.oauth != nil {
		s.oauth.Mount(r)
		r.Handle("/mcp", oauth.CORS(s.oauth.Protect("/mcp")(mcpH)))
		r.Handle("/sse", oauth.CORS(s.oauth.Protect("/sse")(sseH)))
	} else {
		r.Handle("/mcp", oauth.CORS(mcpH))
		r.Handle("/sse", oauth.CORS(sseH))
	}
	r.Get("/", s.index)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("404 page not found: %s (the MCP endpoint is %s)", r.URL.Path, publicurl.URL(r, "/mcp")), http.StatusNotFound)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("405 method %s not allowed on %s", r.Method, r.URL.Path), http.StatusMethodNotAllowed)
	})
	return r
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "mcpwatch: an MCP server that shows its handshakes.\nMCP endpoint (paste this into a connector): %s\n", publicurl.URL(r, "/mcp"))
}

// applyToolsChanged adds or removes the tools-changed toggle's tool when the toggle flips.
func (s *Server) applyToolsChanged([]toggle.Active) {
	on := s.cfg.Toggles.Has(toggle.ToolsChanged)
	s.toolsChangedMu.Lock()
	defer s.toolsChangedMu.Unlock()
	switch {
	case on && !s.toolsChanged:
		mcpserver.AddChangedTool(s.mcp)
		s.toolsFlips.Add(1)
	case !on && s.toolsChanged:
		s.mcp.RemoveTools(mcpserver.ChangedToolName)
		s.toolsFlips.Add(1)
	}
	s.toolsChanged = on
}

// applyAuthToggles sets the authorization server's knobs from the toggles that change how it behaves (the others
// act on the wire, in the toggles middleware). A change applies to the next request.
func (s *Server) applyAuthToggles([]toggle.Active) {
	if s.oauth == nil {
		return
	}
	set := s.cfg.Toggles
	s.oauth.UpdateOptions(func(o *oauth.Options) {
		o.DenyConsent = set.Has(toggle.DenyConsent)
		o.ForceConfidential = set.Has(toggle.RequireClientSecret)
		o.RedirectHosts, _ = set.Hosts(toggle.RedirectAllow)
		o.AccessTokenTTL, _ = set.Duration(toggle.ShortToken)
	})
}

// Handler is the router with every route and middleware, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.router }

// OAuth is the authorization server (nil with NoAuth); toggles change its behaviour through its Options.
func (s *Server) OAuth() *oauth.AS { return s.oauth }

// Guard is the Host/Origin guard, which also knows the public URL.
func (s *Server) Guard() *publicurl.Guard { return s.guard }

// Toggles is the set of toggles.
func (s *Server) Toggles() *toggle.Set { return s.cfg.Toggles }

// MCP is the SDK server (tools, prompts, resources); nil in proxy mode.
func (s *Server) MCP() *mcp.Server { return s.mcp }

// Listen binds the loopback address. A non-loopback address is refused: expose mcpwatch through a tunnel.
func (s *Server) Listen() error {
	host, port, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", s.cfg.Addr, err)
	}
	if !publicurl.IsLoopback(host) {
		local := net.JoinHostPort("localhost", port)
		return fmt.Errorf("--addr %q: mcpwatch listens on loopback only (localhost, 127.0.0.1, [::1]): give --addr %s and expose it with --tunnel, or with a tunnel of your own such as `cloudflared tunnel --url http://%s` and its URL in --public-url", s.cfg.Addr, local, local)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// LocalURL is http://ADDR.
func (s *Server) LocalURL() string { return "http://" + s.Addr() }

// ConnectorURL is the URL to paste into a client's connector settings: the public URL when known, else local.
func (s *Server) ConnectorURL() string {
	if u := s.guard.Public(); u != nil {
		return u.String() + s.cfg.EndpointPath
	}
	return s.LocalURL() + s.cfg.EndpointPath
}

// Close ends the server's background work and releases the OAuth state file, for a server that is not going to
// Serve (Serve does this itself when it returns). It is idempotent.
func (s *Server) Close() { s.stop() }

// Also serves o alongside s: Serve starts it and returns once both have stopped, so that what o recorded is in
// the capture before the caller closes it. o should already listen.
func (s *Server) Also(o *Server) { s.also = append(s.also, o) }

// listener is what Serve serves on, and the http.Server's ConnContext: the recorder takes each request's headers
// in their wire order from its connection's bytes, which the wrapped listener keeps; without a recorder nothing
// would read them, and connections are served as they are.
func (s *Server) listener() (net.Listener, func(context.Context, net.Conn) context.Context) {
	if s.cfg.Recorder == nil {
		return s.ln, nil
	}
	return recorder.WrapListener(s.ln), recorder.ConnContext
}

// errStopped is why the streams open when the server stopped ended (the exchange's error in the capture).
var errStopped = errors.New("cut: mcpwatch stopped")

// shutdownGrace bounds the wait for the requests in flight when the server stops; streams are cut as soon as they
// are all that is left (onlyStreams).
const shutdownGrace = 2 * time.Second

// plainGrace is how long a server without a recorder, which cannot tell a stream from a slow answer, lets the
// requests in flight finish before it cuts them.
const plainGrace = 250 * time.Millisecond

// onlyStreams is closed once every request still being served is an event stream (the recorder knows which are),
// or after shutdownGrace; without a recorder, after plainGrace. It stops looking when quit is closed.
func (s *Server) onlyStreams(quit <-chan struct{}) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		defer close(c)
		grace := shutdownGrace
		if s.cfg.Recorder == nil {
			grace = plainGrace
		}
		deadline := time.NewTimer(grace)
		defer deadline.Stop()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if s.cfg.Recorder != nil {
				if open, streams := s.cfg.Recorder.Requests(); open <= streams {
					return
				}
			}
			select {
			case <-deadline.C:
				return
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

// Serve serves until ctx ends, then shuts down: the requests in flight are answered, then the event streams still
// open are cut (their exchanges recorded as cut) and Serve returns.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if len(s.also) > 0 {
		actx, stopAlso := context.WithCancel(ctx)
		alsoDone := make(chan error, len(s.also))
		for _, o := range s.also {
			go func() { alsoDone <- o.Serve(actx) }()
		}
		defer func() {
			stopAlso()
			for range s.also {
				if err := <-alsoDone; err != nil {
					s.cfg.Logger.Warn("stopping", "err", err)
				}
			}
		}()
	}
	// Every request's context descends from base, which Serve cancels when it stops: an event stream (the SDK's
	// GET stream, a proxied stream and its upstream request) never ends on its own, and Shutdown alone would wait
	// its whole grace for it.
	base, cancelBase := context.WithCancelCause(context.Background())
	defer cancelBase(nil)
	s.http = &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	var ln net.Listener
	ln, s.http.ConnContext = s.listener()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	select {
	case err := <-errc:
		s.stop()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.http.Shutdown(sctx) }() // no new connections; idle ones closed; waits for the rest
	quit := make(chan struct{})
	var err error
	select {
	case err = <-shut: // nothing was open
	case <-s.onlyStreams(quit):
		// What is left are streams (and requests that outlived the grace): cut them. Their handlers return, the
		// recorder ends their exchanges, and Shutdown sees their connections go idle.
		cancelBase(errStopped)
		// The first Shutdown looks for idle connections less and less often (up to every 500 ms): a second one
		// starts again at 1 ms, so the connections are seen idle as soon as the cut handlers have returned.
		err = s.http.Shutdown(sctx)
	}
	close(quit)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.http.Close() // a handler that ignores its request's context
	}
	s.stop()
	if s.cfg.Recorder != nil {
		// Close does not wait for the handlers it cut off: let their exchanges end (and reach the capture file)
		// before the caller closes it.
		wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if werr := s.cfg.Recorder.Wait(wctx); werr != nil {
			s.cfg.Logger.Warn("stopping", "err", werr)
		}
		wcancel()
	}
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}
