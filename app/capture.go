package app

import (
	"path/filepath"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// OpenCapture opens the session's capture file — path, or a new one named for the time under
// stateDir/captures — and has store append every completed exchange to it, and keep its large bodies there once
// written rather than in memory (recorder.Store.UseCapture).
func OpenCapture(store *recorder.Store, path, stateDir string, opts recorder.CaptureOptions) (*recorder.CaptureFile, error) {
	if path == "" {
		path = filepath.Join(stateDir, "captures", time.Now().Format("2006-01-02T15-04-05")+".jsonl")
	}
	capture, err := recorder.OpenCaptureWith(path, opts)
	if err != nil {
		return nil, err
	}
	store.UseCapture(capture)
	return capture, nil
}
