package toggle

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEmptyFollowsTheSet(t *testing.T) {
	s := NewSet(ModeServe)
	if !s.Empty() || s.Has(Slow) {
		t.Fatal("a new set is not empty")
	}
	if err := s.Set("slow=1ms"); err != nil {
		t.Fatal(err)
	}
	if s.Empty() || !s.Has(Slow) {
		t.Fatal("a set with a toggle on is empty")
	}
	s.Unset("slow")
	if !s.Empty() || s.Has(Slow) {
		t.Fatal("the set is not empty after the last toggle went off")
	}
}

// With no toggle on, the middleware passes the request through untouched and allocates nothing of its own.
func BenchmarkMiddlewareEmpty(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := Middleware(NewSet(ModeServe), Options{})(next)
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
