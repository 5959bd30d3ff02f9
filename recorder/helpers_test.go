package recorder

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// serveRecorded runs h behind the capture middleware on a real http.Server with the wire-order listener, as
// server.Serve does, and returns the server's base URL.
func serveRecorded(t *testing.T, store *Store, opts Options, h http.Handler) (string, *Recorder) {
	t.Helper()
	rec := New(store, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec.Middleware(h), ConnContext: ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(WrapListener(ln))
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), rec
}

// waitCompleted reads sub until n exchanges completed, and returns them in completion order.
func waitCompleted(t *testing.T, sub *Subscription, n int) []*Exchange {
	t.Helper()
	var out []*Exchange
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case u := <-sub.C:
			if u.Kind == Completed {
				out = append(out, u.Exchange)
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %d completed exchanges (got %d)", n, len(out))
		}
	}
	return out
}

// rawRequest writes raw bytes on a new connection and returns what came back until the server closed it or the
// response ended (the request should carry Connection: close).
func rawRequest(t *testing.T, base, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf []byte
	b := make([]byte, 4096)
	for {
		n, err := c.Read(b)
		buf = append(buf, b[:n]...)
		if err != nil {
			return string(buf)
		}
	}
}
