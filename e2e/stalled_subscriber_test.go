package e2e

// Issue 4 (recorder), judged on the HTTP path: under a load of concurrent whole OAuth handshakes through the real
// server (server.New, its router and middleware, served by Server.Serve on a loopback listener, as `mcpwatch serve`
// does), a subscriber that never reads — with a buffer of 4 updates — neither holds up nor loses a single request,
// its losses are counted exactly, and the capture file still gets every exchange. The test compares with a run
// without the stalled subscriber by counting; the latency comparison is BenchmarkStalledSubscriber.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
)

// stalledBuffer is the stalled subscriber's buffer: full after the first few updates.
const stalledBuffer = 4

// stallRig is mcpwatch's server with a recorder whose store feeds a capture file, a subscriber that reads every
// update (as the TUI or the headless printer does) and, optionally, a subscriber that never reads.
type stallRig struct {
	url     string
	store   *recorder.Store
	capture *recorder.CaptureFile
	reader  *recorder.Subscription
	stalled *recorder.Subscription // nil: no stalled subscriber

	received, completed atomic.Uint64 // updates the reader got; of them, Completed ones
	readerDone          chan struct{}
	cancel              context.CancelFunc
	served              chan error
}

func startStallRig(tb testing.TB, stalled bool, capturePath string) *stallRig {
	tb.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	capture, err := recorder.OpenCapture(capturePath)
	if err != nil {
		tb.Fatal(err)
	}
	store.OnComplete(capture.Append)
	r := &stallRig{store: store, capture: capture, readerDone: make(chan struct{}), served: make(chan error, 1)}
	r.reader = store.Subscribe(1 << 16)
	if stalled {
		r.stalled = store.Subscribe(stalledBuffer)
	}
	go func() {
		defer close(r.readerDone)
		for u := range r.reader.C {
			r.received.Add(1)
			if u.Kind == recorder.Completed {
				r.completed.Add(1)
			}
		}
	}()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Recorder: recorder.New(store, recorder.Options{}), AutoApprove: true})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	r.url = srv.LocalURL() + "/mcp"
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.served <- srv.Serve(ctx) }()
	return r
}

// stop shuts the server down (Serve returns once every handler has returned, so every update has been published
// and every completed exchange handed to the capture file) and closes the capture file.
func (r *stallRig) stop(tb testing.TB) {
	tb.Helper()
	r.cancel()
	select {
	case err := <-r.served:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		tb.Fatal("the server did not shut down within 30 s: a handler is stuck")
	}
	if err := r.capture.Close(); err != nil {
		tb.Errorf("capture: %v", err)
	}
}

// closeReader ends the reading subscriber and waits until it has counted every update it was sent.
func (r *stallRig) closeReader() {
	r.reader.Close()
	<-r.readerDone
}

// handshake is one connector's whole run, 11 requests, each answer checked by loadgen: the 401 challenge, the
// resource and authorization server metadata, registration, authorization (auto-approved), token, initialize,
// notifications/initialized, tools/list, tools/call, DELETE.
func handshake(ctx context.Context, c *loadgen.Client, mcpURL string, n int) error {
	g, err := c.Authorize(ctx, mcpURL, loadgen.EraLegacy)
	if err != nil {
		return err
	}
	s, err := c.Open(ctx, mcpURL, loadgen.EraLegacy, g.AccessToken)
	if err != nil {
		return err
	}
	if err := c.ListTools(ctx, s, "echo"); err != nil {
		return err
	}
	if err := c.CallEcho(ctx, s, "echo", fmt.Sprintf("handshake %d", n)); err != nil {
		return err
	}
	return c.Close(ctx, s)
}

const requestsPerHandshake = 11

// within runs f and fails the test if it does not return within d (f's goroutine is then left behind).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

type stallRun struct {
	sent, answered     uint64 // HTTP requests, as the clients counted them
	failed             int    // handshakes that failed a check or timed out
	received, complete uint64 // updates the reading subscriber got; Completed ones among them
	stalledDropped     uint64 // the stalled subscriber's count (0 without one)
	stalledBuffered    int    // updates left in its buffer
	storeDropped       uint64 // Stats().Dropped
	captured           int    // inbound exchanges in the capture file
	incomplete         int    // of them, not complete or answered 5xx
}

// runStallLoad runs handshakes, split over workers concurrent clients, each request bounded by loadgen's timeout
// (10 s) and the whole load by deadline: a publish that blocked would hold a handler, and with it its client.
func runStallLoad(t *testing.T, stalled bool, workers, handshakes int, deadline time.Duration) stallRun {
	t.Helper()
	capturePath := filepath.Join(t.TempDir(), "capture.jsonl")
	r := startStallRig(t, stalled, capturePath)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	tr := loadgen.NewTransport(workers)
	defer tr.CloseIdleConnections()
	var out stallRun
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := loadgen.NewClient(loadgen.Config{URL: r.url, Transport: tr})
			failed := 0
			for i := w; i < handshakes && ctx.Err() == nil; i += workers {
				if err := handshake(ctx, c, r.url, i); err != nil {
					if failed++; failed <= 2 {
						t.Errorf("handshake %d: %v", i, err)
					}
				}
			}
			sent, answered := c.Tally()
			mu.Lock()
			out.sent += sent
			out.answered += answered
			out.failed += failed
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Errorf("the load did not finish within %v: requests were held", deadline)
	}
	r.stop(t)

	// Every update has been made; hand over those still waiting for the publication timer, then read the counts
	// before the subscriptions end (Stats sums theirs). A store whose publish blocked would still hold its lock:
	// these calls get a deadline too, so the test fails, not hangs.
	within(t, 10*time.Second, "reading the store's counts", func() {
		r.store.Publish()
		out.storeDropped = r.store.Stats().Dropped
		if r.stalled != nil {
			out.stalledDropped = r.stalled.Dropped()
			out.stalledBuffered = len(r.stalled.C)
			r.stalled.Close()
		}
		if d := r.reader.Dropped(); d != 0 {
			t.Errorf("the reading subscriber dropped %d updates (its buffer holds 65536)", d)
		}
		r.closeReader()
	})
	out.received, out.complete = r.received.Load(), r.completed.Load()

	loaded, err := recorder.LoadCapture(capturePath)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.TornTail || len(loaded.Skipped) > 0 {
		t.Errorf("capture: torn tail %v, unreadable lines %v", loaded.TornTail, loaded.Skipped)
	}
	for _, ex := range loaded.Exchanges {
		if ex.Kind != recorder.Inbound {
			continue
		}
		out.captured++
		if ex.State != recorder.StateComplete || ex.Status >= 500 {
			out.incomplete++
		}
	}
	return out
}

// TestStalledSubscriberDoesNotHoldTheHTTPPath: 126 concurrent whole handshakes (1,386 requests) through the real
// router, once with only a reading subscriber and once with a stalled one beside it. In both runs every request is
// answered and passes loadgen's checks well within the deadline, and the capture file holds every exchange; with
// the stalled subscriber, its buffer is full, its Dropped() count is exactly the updates it missed (every update
// the reading subscriber got, less the 4 in its buffer), and the store's Stats().Dropped shows that count.
func TestStalledSubscriberDoesNotHoldTheHTTPPath(t *testing.T) {
	const workers, handshakes = 14, 126
	const requests = handshakes * requestsPerHandshake
	runs := map[string]stallRun{}
	for _, name := range []string{"without", "with"} {
		run := runStallLoad(t, name == "with", workers, handshakes, 45*time.Second)
		runs[name] = run
		t.Logf("%s a stalled subscriber: %+v", name, run)
		if run.failed > 0 || run.sent != requests || run.answered != requests {
			t.Errorf("%s a stalled subscriber: %d handshakes failed; %d requests sent, %d answered, want %d of each", name, run.failed, run.sent, run.answered, requests)
		}
		if run.captured != requests || run.incomplete > 0 {
			t.Errorf("%s a stalled subscriber: the capture file holds %d inbound exchanges (%d incomplete or 5xx), want %d complete", name, run.captured, run.incomplete, requests)
		}
		// Each exchange is published at least as Began and Completed, and completes exactly once.
		if run.complete != requests || run.received < 2*requests {
			t.Errorf("%s a stalled subscriber: the reading subscriber got %d updates, %d of them Completed, want ≥ %d and %d", name, run.received, run.complete, 2*requests, requests)
		}
	}
	without, with := runs["without"], runs["with"]
	if without.storeDropped != 0 {
		t.Errorf("without a stalled subscriber the store counts %d dropped updates, want 0", without.storeDropped)
	}
	if with.stalledBuffered != stalledBuffer {
		t.Errorf("the stalled subscriber's buffer holds %d updates, want it full (%d)", with.stalledBuffered, stalledBuffer)
	}
	if missed := with.received - uint64(with.stalledBuffered); with.stalledDropped != missed {
		t.Errorf("the stalled subscriber's Dropped() = %d, but it missed %d updates (%d published, %d buffered)", with.stalledDropped, missed, with.received, with.stalledBuffered)
	}
	if with.storeDropped != with.stalledDropped {
		t.Errorf("Stats().Dropped = %d, want the stalled subscriber's %d", with.storeDropped, with.stalledDropped)
	}
	// The same work, counted the same way, with and without the stalled subscriber.
	if with.sent != without.sent || with.answered != without.answered || with.captured != without.captured || with.complete != without.complete {
		t.Errorf("the runs differ: without %+v, with %+v", without, with)
	}
}

// BenchmarkStalledSubscriber measures one whole handshake (11 requests) through the real router, with
// concurrent clients, with a reading subscriber only and with a stalled subscriber beside it; ns/op side by side
// in one run shows whether the stalled subscriber costs the HTTP path anything. dropped/op is the stalled
// subscriber's losses per handshake.
//
//	go test ./e2e -run '^$' -bench BenchmarkStalledSubscriber -benchtime 400x -count 3
func BenchmarkStalledSubscriber(b *testing.B) {
	for _, stalled := range []bool{false, true} {
		name := "subscribers=reader"
		if stalled {
			name = "subscribers=reader+stalled"
		}
		b.Run(name, func(b *testing.B) {
			r := startStallRig(b, stalled, filepath.Join(b.TempDir(), "capture.jsonl"))
			tr := loadgen.NewTransport(8)
			defer tr.CloseIdleConnections()
			var n atomic.Int64
			b.SetParallelism(4) // 4 clients per CPU
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := loadgen.NewClient(loadgen.Config{URL: r.url, Transport: tr})
				for pb.Next() {
					if err := handshake(context.Background(), c, r.url, int(n.Add(1))); err != nil {
						b.Error(err)
					}
				}
			})
			b.StopTimer()
			r.stop(b)
			if r.stalled != nil {
				b.ReportMetric(float64(r.stalled.Dropped())/float64(b.N), "dropped/op")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*requestsPerHandshake), "ns/request")
			r.closeReader()
		})
	}
}
