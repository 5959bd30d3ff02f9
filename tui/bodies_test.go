package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// A large body the store keeps in the capture file is not read on the keystroke path: the detail pane shows the
// exchange at once, says the body is being read, and a command reads it back (Exchange.WithBodies) and shows it.
// Copying the exchange as curl reads it back in a command too.
func TestDetailReadsLargeBodiesInACommand(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	capture, err := recorder.OpenCapture(filepath.Join(t.TempDir(), "capture.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capture.Close() })
	store.UseCapture(capture)
	h := newHarness(t, 120, 40, doneScript(), func(c *Config) { c.Store = store })
	h.store, h.fed = store, newFedStore(store)
	h.m.ctx.exchange = h.fed.get

	ex := handshake()[9] // tools/list
	big := `{"jsonrpc":"2.0","id":1,"result":{"tools":[` + strings.Repeat(`{"name":"a-tool","description":"does a thing"},`, 200) +
		`{"name":"LAST-TOOL"}]}}`
	ex.RespBody = recorder.Body{Data: []byte(big), Size: int64(len(big))}
	reqBig := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"` + strings.Repeat("c", 5000) + `END-OF-CURSOR"}}`
	ex.ReqBody = recorder.Body{Data: []byte(reqBig), Size: int64(len(reqBig))}
	id := store.Add(ex)
	deadline := time.Now().Add(10 * time.Second)
	for !store.Peek(id).BodiesInFile() {
		if time.Now().After(deadline) {
			t.Fatal("the capture did not take the bodies")
		}
		time.Sleep(time.Millisecond)
	}
	lazy := store.Peek(id)
	cmd := h.send(updatesMsg{updates: []recorder.Update{{Kind: recorder.Completed, Exchange: lazy}}})
	cmd = tea.Batch(cmd, h.press("enter", "right"))
	if s := h.screen(); !strings.Contains(s, "bytes: reading it back from the capture file") || strings.Contains(s, "LAST-TOOL") {
		t.Fatalf("the pane does not say it reads the body back:\n%s", s)
	}
	var clip string // copied as curl while the pane still reads the bodies back: the command reads them itself
	for _, m := range h.run(h.press("c")) {
		if fmt.Sprintf("%T", m) == "tea.setClipboardMsg" {
			clip = fmt.Sprint(m)
		}
	}
	if !strings.Contains(clip, "END-OF-CURSOR") {
		t.Fatalf("curl without the request body read back:\n%.300s", clip)
	}
	h.run(cmd)
	h.press("G") // the bottom of the body
	if s := h.screen(); !strings.Contains(s, "LAST-TOOL") || strings.Contains(s, "reading it back") {
		t.Fatalf("the body read back is not shown:\n%s", s)
	}
}

// Export reads the bodies the store keeps in the capture file back (in its command), and says how many it could
// not: those whose file rotation deleted, each exchange with a note.
func TestExportReadsBodiesBack(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	capture, err := recorder.OpenCaptureWith(filepath.Join(t.TempDir(), "capture.jsonl"), recorder.CaptureOptions{MaxSize: 16 << 10, Keep: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capture.Close() })
	store.UseCapture(capture)
	var ids []uint64
	for i := range 2 { // the second one's line rotates the first one's file away (no rotated file kept)
		ex := handshake()[9]
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"result":{"n":%d,"pad":"%s"}}`, i, strings.Repeat("p", 9000))
		ex.RespBody = recorder.Body{Data: []byte(body), Size: int64(len(body))}
		ids = append(ids, store.Add(ex))
		deadline := time.Now().Add(10 * time.Second)
		for n, _ := capture.Written(); n < uint64(i+1); n, _ = capture.Written() {
			if time.Now().After(deadline) {
				t.Fatal("the capture did not write")
			}
			time.Sleep(time.Millisecond)
		}
	}
	var got []*recorder.Exchange
	exp := func(_, _ string, exs []*recorder.Exchange) error { got = exs; return nil }
	msg := runExport(sliceExporter(exp), store.Peek, "jsonl", filepath.Join(t.TempDir(), "out.jsonl"), ids, false, nil)().(exportedMsg)
	if msg.err != nil || msg.n != 2 || msg.unread != 1 || len(got) != 2 {
		t.Fatalf("export: %+v, %d exchanges", msg, len(got))
	}
	if got[0].RespBody.Data != nil || !strings.Contains(got[0].Note(recorder.NoteBody), "deleted by rotation") {
		t.Errorf("the rotated-out body: %d bytes, note %q", len(got[0].RespBody.Data), got[0].Note(recorder.NoteBody))
	}
	if !strings.Contains(string(got[1].RespBody.Data), `"n":1,`) || got[1].BodiesInFile() {
		t.Errorf("the body in the file was not read back: %.80s", got[1].RespBody.Data)
	}
}
