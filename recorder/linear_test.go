package recorder

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// batchBody is a JSON-RPC batch of n pings (ids first..first+n-1).
func batchBody(first, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"ping"}`, first+i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// recordBatch records one POST of a batch of n pings, answered on an event stream with one event per answer and
// a flush every 16 events, and returns the exchange as the store has it.
func recordBatch(t testing.TB, opts Options, n int) *Exchange {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i := range n {
			fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}\n\n", i)
			if i%16 == 15 {
				w.(http.Flusher).Flush()
			}
		}
	})
	store := NewStore(StoreOptions{})
	r := httptest.NewRequest("POST", "/mcp", bytes.NewReader(batchBody(0, n)))
	New(store, opts).Middleware(h).ServeHTTP(flushDiscard{h: http.Header{}}, r)
	ex := store.Get(1)
	if ex == nil || ex.State != StateComplete {
		t.Fatalf("not recorded: %+v", ex)
	}
	return ex
}

// Options.MaxRPC bounds the messages read per exchange: the rest are counted (Exchange.RPCSkipped), and the
// capture line says so.
func TestRecorderBoundsRPCMessages(t *testing.T) {
	ex := recordBatch(t, Options{MaxRPC: 50}, 40)
	if len(ex.RPC) != 50 || ex.RPCSkipped != 30 {
		t.Fatalf("kept %d messages, skipped %d; want 50 and 30", len(ex.RPC), ex.RPCSkipped)
	}
	for i, m := range ex.RPC {
		switch {
		case i < 40 && (m.From != FromClient || m.Method != "ping"):
			t.Fatalf("message %d: %+v", i, m)
		case i >= 40 && (m.From != FromServer || m.ReplyTo != "ping" || string(m.ID) != fmt.Sprint(i-40)):
			t.Fatalf("answer %d: %+v", i, m)
		}
	}
	line, err := appendLine(nil, ex)
	if err != nil || !strings.Contains(string(line), `"rpcSkipped":30`) {
		t.Errorf("capture line does not count the skipped messages: %v %.200s", err, line)
	}
	// The default holds a batch of 10,000 and its answers, paired.
	if defaultMaxRPC < 20000 {
		t.Errorf("DefaultMaxRPC %d", defaultMaxRPC)
	}
	ex = recordBatch(t, Options{}, 10000)
	if len(ex.RPC) != 20000 || ex.RPCSkipped != 0 || ex.RPC[19999].ReplyTo != "ping" || ex.RPC[10000].ReplyTo != "ping" {
		t.Fatalf("%d messages, %d skipped, last %+v", len(ex.RPC), ex.RPCSkipped, ex.RPC[len(ex.RPC)-1])
	}
	// Beyond the default: the request's messages are read, the answers beyond the bound counted.
	ex = recordBatch(t, Options{MaxEvents: 12000}, 12000)
	if len(ex.RPC) != defaultMaxRPC || ex.RPCSkipped != 24000-defaultMaxRPC {
		t.Fatalf("%d messages, %d skipped", len(ex.RPC), ex.RPCSkipped)
	}
	// Events beyond Options.MaxEvents are counted too.
	ex = recordBatch(t, Options{MaxEvents: 25}, 40)
	if len(ex.Events) != 25 || ex.EventsSkipped != 15 || len(ex.RPC) != 40+25 {
		t.Fatalf("%d events kept, %d skipped, %d messages", len(ex.Events), ex.EventsSkipped, len(ex.RPC))
	}
	if line, _ := appendLine(nil, ex); !strings.Contains(string(line), `"eventsSkipped":15`) {
		t.Errorf("capture line does not count the skipped events: %.300s", line)
	}
}

// Recording a stream's messages group by group allocates the same per message at any size: the exchange's
// messages are not copied again for every event (they were: 100 times the bytes per message at 10 times the
// messages). Bytes, not time: a count that does not depend on the machine's load.
func TestRecorderBatchAllocatesLinearly(t *testing.T) {
	perMsg := func(n int) float64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		recordBatch(t, Options{}, n)
		runtime.ReadMemStats(&m1)
		return float64(m1.TotalAlloc-m0.TotalAlloc) / float64(2*n)
	}
	perMsg(200) // warm up
	small, large := perMsg(200), perMsg(4000)
	t.Logf("bytes allocated per message: %.0f at 200, %.0f at 4000", small, large)
	if large > 2*small {
		t.Errorf("allocation per message grows with the batch: %.0f bytes at 200, %.0f at 4000", small, large)
	}
}

// RPCMethod, RPCError and Size read what snapshot remembered as the exchange grew: the same answers as looking at
// every message and event again, for each snapshot, and for a copy whose messages were replaced.
func TestExchangeMemoMatchesAFullLook(t *testing.T) {
	naive := func(e *Exchange) (method string, code int, ok bool) {
		for _, m := range e.RPC {
			if m.From == FromClient && m.Method != "" {
				method = m.Method
				break
			}
		}
		for _, m := range e.RPC {
			if m.From == FromServer && m.ErrorCode != nil {
				return method, *m.ErrorCode, true
			}
		}
		return method, 0, false
	}
	code := -32601
	live := &Exchange{ReqHeaders: Headers{{"A", "b"}}}
	var snaps []*Exchange
	for i := range 50 {
		switch i % 7 {
		case 3:
			live.RPC = append(live.RPC, RPC{From: FromClient, Method: fmt.Sprint("m", i), ID: []byte("1")})
		case 5:
			live.RPC = append(live.RPC, RPC{From: FromServer, ErrorCode: &code, IsResponse: true})
		default:
			live.RPC = append(live.RPC, RPC{From: FromServer, IsResponse: true})
		}
		live.Events = append(live.Events, SSEEvent{Data: strings.Repeat("d", i)})
		if i == 20 {
			live.RespHeaders = Headers{{"Content-Type", "text/event-stream"}}
		}
		snaps = append(snaps, live.snapshot())
	}
	for i, s := range snaps {
		fresh := *s
		fresh.memo = nil
		m, c, ok := naive(s)
		gc, _, gok := s.RPCError()
		if s.RPCMethod() != m || gc != c || gok != ok || s.Size() != fresh.Size() {
			t.Fatalf("snapshot %d: method %q/%q error %d,%v/%d,%v size %d/%d", i, s.RPCMethod(), m, gc, gok, c, ok, s.Size(), fresh.Size())
		}
	}
	c := *snaps[len(snaps)-1]
	c.RPC = []RPC{{From: FromClient, Method: "other"}}
	if c.RPCMethod() != "other" {
		t.Errorf("a copy with other messages: %q", c.RPCMethod())
	}
	if _, _, ok := c.RPCError(); ok {
		t.Error("a copy with other messages: still an error")
	}
}
