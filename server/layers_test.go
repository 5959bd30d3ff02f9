package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Connections keep their bytes for the recorder only when there is one: with recording off (the benchmarks'
// switch) every read was copied into a window that nothing read.
func TestListenerWrappedOnlyForTheRecorder(t *testing.T) {
	for _, rec := range []*recorder.Recorder{nil, recorder.New(recorder.NewStore(recorder.StoreOptions{}), recorder.Options{})} {
		s, err := New(Config{Addr: "127.0.0.1:0", NoAuth: true, Recorder: rec})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		ln, cc := s.listener()
		if wrapped := ln != s.ln; wrapped != (rec != nil) || (cc != nil) != (rec != nil) {
			t.Errorf("recorder %v: listener wrapped %v, ConnContext set %v", rec != nil, wrapped, cc != nil)
		}
		s.ln.Close()
		s.Close()
	}
}

// deadlineWriter is a ResponseWriter with a read deadline, as net/http's own is.
type deadlineWriter struct {
	http.ResponseWriter
	set time.Time
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error { w.set = t; return nil }

// The body deadline is set on net/http's writer without a ResponseController for every request: the copy of the
// request with the body's wrapper, in one allocation, is its only one (3 before, then 2: the copy, the wrapper).
func TestBodyDeadlineAllocations(t *testing.T) {
	h := bodyDeadline(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	w := &deadlineWriter{}
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", http.NoBody)
	r.Body = readCloser{}
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n > 1 {
		t.Errorf("%.0f allocations per request, want at most 1", n)
	}
	if w.set.IsZero() {
		t.Error("no read deadline set")
	}
}

type readCloser struct{}

func (readCloser) Read([]byte) (int, error) { return 0, nil }
func (readCloser) Close() error             { return nil }

// In proxy mode one handler serves every path and method, so the middleware wraps it directly: chi's router in
// front of it (its route context, a request copy carrying it, the "*" path value) cost 4 allocations more on every
// request and on a stream's way to its first event (issue 18). With recording off and no toggle on, the layers in
// front of the proxy allocate only the guard's context carrying the public base URL (2) for a GET.
func TestProxyModeLayersAllocations(t *testing.T) {
	called := 0
	s, err := New(Config{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++ })})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	r, _ := http.NewRequest(http.MethodGet, s.LocalURL()+"/mcp", nil)
	r.Header.Set("Accept", "text/event-stream")
	w := httptest.NewRecorder()
	h := s.Handler()
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n > 2 {
		t.Errorf("%.0f allocations per request in front of the proxy, want at most 2 (the guard's context)", n)
	}
	if called == 0 || w.Code != http.StatusOK {
		t.Fatalf("the handler was called %d times, status %d: the guard turned the request away", called, w.Code)
	}
}
