// Package control is the control socket: a Unix socket through which `mcpwatch toggle set|unset|list` switches the
// toggles of a running instance from a second terminal. Only the same user on the same machine can reach it: the
// socket lives in a 0700 directory, is itself 0600, and every connection's peer credentials are checked. It is
// never served on the public listener.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/server/toggle"
)

// maxSocketPath is what fits in a sockaddr_un (108 bytes on Linux, with its NUL).
const maxSocketPath = 107

// Dir is where control sockets live: $XDG_RUNTIME_DIR/mcpwatch, else stateDir/run; when that path is too long for a
// Unix socket, a per-user directory in the system's temporary directory.
func Dir(stateDir string) string {
	d := filepath.Join(stateDir, "run")
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		d = filepath.Join(x, "mcpwatch")
	}
	if len(filepath.Join(d, SocketName("65535"))) > maxSocketPath {
		d = filepath.Join(os.TempDir(), fmt.Sprintf("mcpwatch-%d", os.Getuid()))
	}
	return d
}

// SocketName is the socket of the instance listening on port.
func SocketName(port string) string { return "control-" + port + ".sock" }

// Server serves the control API on a Unix socket.
type Server struct {
	path string
	ln   net.Listener
	http *http.Server
}

// Listen creates the socket at path (replacing a stale one left by a crash, refusing one that a live instance
// answers on) and serves set on it.
func Listen(path string, set *toggle.Set) (*Server, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := checkOwnDir(dir); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another mcpwatch is using it", path)
		}
		os.Remove(path) // stale
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{path: path, ln: sameUser{ln.(*net.UnixListener)}}
	s.http = &http.Server{Handler: handler(set), ReadHeaderTimeout: 5 * time.Second}
	go s.http.Serve(s.ln)
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	err := s.http.Close()
	os.Remove(s.path)
	return err
}

// sameUser accepts only connections from this process's user (its peer credentials: peerUID).
type sameUser struct{ *net.UnixListener }

func (l sameUser) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, err := peerUID(c); err == nil && uid == os.Getuid() {
			return c, nil
		}
		c.Close()
	}
}

// Toggle is a toggle as the API lists it.
type Toggle struct {
	Name    string `json:"name"`
	Value   string `json:"value,omitempty"`
	Spec    string `json:"spec"`
	Group   string `json:"group"`
	Arg     string `json:"arg,omitempty"`
	Changes string `json:"changes"`
	On      bool   `json:"on"`
}

// State is what GET /toggles answers.
type State struct {
	Mode    string   `json:"mode"`
	Toggles []Toggle `json:"toggles"`
}

func state(set *toggle.Set) State {
	on := map[string]toggle.Active{}
	for _, a := range set.List() {
		on[a.Name] = a
	}
	st := State{Mode: set.Mode()}
	for _, d := range toggle.Toggles() {
		if !d.AppliesTo(set.Mode()) {
			continue
		}
		a, ok := on[d.Name]
		t := Toggle{Name: d.Name, Group: d.Group, Arg: d.Arg, Changes: d.Changes, On: ok, Spec: d.Spec()}
		if ok {
			t.Value, t.Spec = a.Value, a.Spec()
		}
		st.Toggles = append(st.Toggles, t)
	}
	return st
}

// Change is what POST /toggles carries: toggles to switch on (NAME or NAME=VALUE) and off (NAME), applied all or
// nothing.
type Change struct {
	Set   []string `json:"set,omitempty"`
	Unset []string `json:"unset,omitempty"`
}

// maxChange bounds a POST /toggles body.
const maxChange = 64 << 10

// handler is the control API: GET /toggles; POST /toggles with a Change (every spec is validated before any is
// applied: one bad spec changes nothing); PUT /toggles/{spec} and DELETE /toggles/{name} for one toggle.
func handler(set *toggle.Set) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, err error) {
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	mux.HandleFunc("GET /toggles", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, state(set)) })
	mux.HandleFunc("POST /toggles", func(w http.ResponseWriter, r *http.Request) {
		var c Change
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxChange))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			fail(w, fmt.Errorf("control socket: a change is {\"set\": [SPEC...], \"unset\": [NAME...]}: %w", err))
			return
		}
		if err := set.Apply(c.Set, c.Unset); err != nil {
			fail(w, err)
			return
		}
		reply(w, 200, state(set))
	})
	mux.HandleFunc("PUT /toggles/{spec}", func(w http.ResponseWriter, r *http.Request) {
		if err := set.Set(r.PathValue("spec")); err != nil {
			fail(w, err)
			return
		}
		reply(w, 200, state(set))
	})
	mux.HandleFunc("DELETE /toggles/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := set.Unset(r.PathValue("name")); err != nil {
			fail(w, err)
			return
		}
		reply(w, 200, state(set))
	})
	return mux
}

// Client talks to a running instance's control socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

func (c *Client) do(method, p string, change any) (State, error) {
	var rd io.Reader
	if change != nil {
		b, err := json.Marshal(change)
		if err != nil {
			return State{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://mcpwatch"+p, rd)
	if err != nil {
		return State{}, err
	}
	if change != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return State{}, fmt.Errorf("control socket %s: %w (is mcpwatch running?)", c.path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return State{}, errors.New(e.Error)
		}
		return State{}, fmt.Errorf("control socket: %s", resp.Status)
	}
	var st State
	if err := json.Unmarshal(body, &st); err != nil {
		return State{}, fmt.Errorf("control socket: %w", err)
	}
	return st, nil
}

// List returns the toggles and which are on.
func (c *Client) List() (State, error) { return c.do(http.MethodGet, "/toggles", nil) }

// Set switches toggles on (NAME or NAME=VALUE), all or nothing: one request, and a bad spec changes nothing.
func (c *Client) Set(specs ...string) (State, error) {
	return c.do(http.MethodPost, "/toggles", Change{Set: specs})
}

// Unset switches toggles off, all or nothing.
func (c *Client) Unset(names ...string) (State, error) {
	return c.do(http.MethodPost, "/toggles", Change{Unset: names})
}

// Find returns the socket of the running instance: the one for port when given, else the only live one in dir.
func Find(dir, port string) (string, error) {
	if port != "" {
		p := filepath.Join(dir, SocketName(port))
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("no mcpwatch is listening on port %s (no %s)", port, p)
		}
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "control-*.sock"))
	var live []string
	for _, m := range matches {
		if c, err := net.DialTimeout("unix", m, time.Second); err == nil {
			c.Close()
			live = append(live, m)
		}
	}
	sort.Strings(live)
	switch len(live) {
	case 0:
		return "", fmt.Errorf("no running mcpwatch found (no control socket in %s); start one with `mcpwatch serve`", dir)
	case 1:
		return live[0], nil
	}
	var ports []string
	for _, l := range live {
		ports = append(ports, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "control-"), ".sock"))
	}
	return "", fmt.Errorf("several mcpwatch instances are running (ports %s); choose one with --port", strings.Join(ports, ", "))
}
