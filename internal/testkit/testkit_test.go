package testkit

import (
	"bufio"
	"net/http"
	"testing"
	"time"
)

// TestServeClosesOpenStreams: a test that leaves an event stream open ends without waiting for it.
func TestServeClosesOpenStreams(t *testing.T) {
	closed := make(chan struct{})
	t.Run("inner", func(t *testing.T) {
		ts := Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(": open\n\n"))
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			close(closed)
		}))
		resp, err := http.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		// resp.Body is left open on purpose.
	})
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the open stream outlived its test")
	}
}
