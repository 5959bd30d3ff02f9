package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
)

// A stream still open when the server stops is cut as soon as it is all that is left, and its record still reaches
// the capture file the caller closes as soon as Serve returns (Serve waits for the exchanges it cut).
func TestStreamOpenAtShutdownIsCaptured(t *testing.T) {
	for i := range 5 {
		store := recorder.NewStore(recorder.StoreOptions{})
		path := filepath.Join(t.TempDir(), "c.jsonl")
		capture, err := recorder.OpenCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		store.OnComplete(capture.Append)
		srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Recorder: recorder.New(store, recorder.Options{}), NoAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ctx) }()
		resp, err := http.Get(srv.LocalURL() + "/sse")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		resp.Body.Read(buf) // the endpoint event: the stream is open
		cancel()
		<-served
		if err := capture.Close(); err != nil { // as app.Session.Run does right after Serve returns
			t.Fatal(err)
		}
		resp.Body.Close()
		res, err := recorder.LoadCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Exchanges) != 1 || capture.Late() != 0 {
			t.Fatalf("run %d: %d exchanges in the capture, %d too late for it", i, len(res.Exchanges), capture.Late())
		}
	}
}

// Without a recorder, which tells streams from slow answers, a stream open when the server stops is cut after a
// short grace (250 ms): Serve waited out Shutdown's 2 s for it.
func TestStreamOpenAtShutdownWithoutRecorder(t *testing.T) {
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	resp, err := http.Get(srv.LocalURL() + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 10)
	resp.Body.Read(buf) // the endpoint event: the stream is open
	t0 := time.Now()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if took := time.Since(t0); took > time.Second {
		t.Errorf("Serve returned %v after its context ended with a stream open, want < 1s", took)
	}
}
