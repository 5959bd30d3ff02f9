package recorder

import (
	"bufio"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// While a request is on its way (begun, its answer not started), the previous exchanges' deferred work — the
// handover to the subscribers and the capture writer's write — waits for its answer to start (at most maxPutOff
// delays), rather than run between the request and its first bytes; once the answer is flushed, it runs.
func TestDeferredWorkWaitsForTheAnswerOnItsWay(t *testing.T) {
	const delay = 50 * time.Millisecond
	store := NewStore(StoreOptions{PublishDelay: delay})
	capture, err := OpenCapture(filepath.Join(t.TempDir(), "c.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	capture.mu.Lock()
	capture.gather = delay // the bounds of both are then 5×delay: far from what this test waits on a busy machine
	capture.mu.Unlock()
	store.UseCapture(capture)
	sub := store.SubscribeWith(SubscribeOptions{Buffer: 16, NoBegan: true})
	entered, release, hold := make(chan struct{}), make(chan struct{}), make(chan struct{})
	defer close(hold)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release // waiting for its upstream, say
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
			w.(http.Flusher).Flush()
			<-hold // the stream goes on
			return
		}
		io.WriteString(w, "ok")
	}))

	slow := make(chan error, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err == nil {
			_, err = bufio.NewReader(resp.Body).ReadString('\n')
			resp.Body.Close()
		}
		slow <- err
	}()
	<-entered
	resp, err := http.Get(base + "/quick")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	quick := time.Now()
	// /quick completed: its record waits for the publication timer and the capture writer, which would have run
	// by now (after delay) but for /slow on its way; the bound is (1+maxPutOff)×delay for both
	time.Sleep(2 * delay)
	published := len(sub.C)
	written, _ := capture.Written()
	if late := time.Since(quick); late < time.Duration(maxPutOff)*delay { // else this goroutine was held up past the put-offs: nothing to judge
		if published != 0 {
			t.Errorf("%d updates handed to the subscriber while a request was on its way (%v after it)", published, late)
		}
		if written != 0 {
			t.Errorf("%d lines written while a request was on its way (%v after it)", written, late)
		}
	} else {
		t.Logf("held up %v (past the put-offs' %v): what was handed over meanwhile not judged", late, time.Duration(maxPutOff)*delay)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	// its answer started (the first event was flushed): it is no longer on its way, though it goes on
	for deadline := time.Now().Add(5 * time.Second); store.onPath.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still on their way after the first event was flushed", store.onPath.Load())
		}
	}
	if got := waitCompleted(t, sub, 1); got[0].URL != "/quick" {
		t.Errorf("completed first: %s", got[0].URL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := capture.Written(); n == 0; n, _ = capture.Written() {
		if time.Now().After(deadline) {
			t.Fatal("the line of /quick was never written")
		}
		time.Sleep(time.Millisecond)
	}
}

// The put-off is bounded: a request that never answers delays the handover at most maxPutOff times.
func TestDeferredWorkWaitsBounded(t *testing.T) {
	const delay = 5 * time.Millisecond
	store := NewStore(StoreOptions{PublishDelay: delay})
	sub := store.SubscribeWith(SubscribeOptions{Buffer: 16, NoBegan: true})
	store.onPath.Add(1) // a request on its way, for ever
	defer store.onPath.Add(-1)
	store.Add(&Exchange{Method: "GET", URL: "/x", State: StateComplete})
	start := time.Now()
	select {
	case <-sub.C:
		if d := time.Since(start); d < maxPutOff*delay {
			t.Errorf("handed over after %v: not put off", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never handed over")
	}
}
