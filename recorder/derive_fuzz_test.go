package recorder

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// pieces is a response body read one piece at a time (a piece longer than the reader's buffer in several reads).
type pieces struct{ ps [][]byte }

func (p *pieces) Read(b []byte) (int, error) {
	for len(p.ps) > 0 && len(p.ps[0]) == 0 {
		p.ps = p.ps[1:]
	}
	if len(p.ps) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.ps[0])
	p.ps[0] = p.ps[0][n:]
	return n, nil
}

func (p *pieces) Close() error { return nil }

// derivedCase is one proxied exchange: the upstream's answer in pieces, what the proxy does with each piece it
// reads (0: passes it on; 1: changes a byte; 2: drops it; 3: passes it on and adds bytes; 4: its write fails and
// the copy stops), the proxy's read buffer and the recorder's bounds.
type derivedCase struct {
	sse      bool
	pieces   [][]byte
	actions  []byte
	bufSize  int
	limit    int
	maxEv    int
	maxRPC   int
	reqBody  string
	clientCT string // the Content-Type the proxy gives the client ("": the upstream's)
}

// records proxies c through a Transport deriving or not and returns the two records as capture lines.
func (c derivedCase) records(t *testing.T, derive bool) string {
	store := NewStore(StoreOptions{})
	at := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	rec := New(store, Options{BodyLimit: c.limit, MaxEvents: c.maxEv, MaxRPC: c.maxRPC, Now: func() time.Time { return at }, PublishDelay: time.Hour})
	ps := make([][]byte, len(c.pieces))
	for i, p := range c.pieces {
		ps[i] = bytes.Clone(p)
	}
	ct := "application/json"
	if c.sse {
		ct = "text/event-stream"
	}
	up := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			io.Copy(io.Discard, req.Body)
		}
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {ct}}, Body: &pieces{ps: ps}, ContentLength: -1, Request: req}, nil
	})
	tr := &Transport{Base: up, Recorder: rec, Derive: derive}
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := forwardUpstream(r, tr)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		if c.clientCT != "" {
			w.Header().Set("Content-Type", c.clientCT)
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, c.bufSize)
		for i := 0; ; i++ {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				var a byte
				if len(c.actions) > 0 {
					a = c.actions[i%len(c.actions)] % 5
				}
				p := buf[:n]
				switch a {
				case 1:
					p = bytes.Clone(p)
					p[len(p)/2] ^= 0x20
				case 2:
					p = nil
				case 3:
					p = append(bytes.Clone(p), "\n\n: added\n\n"...)
				case 4:
					return // the client's connection broke: nothing more is written
				}
				if len(p) > 0 {
					w.Write(p)
					w.(http.Flusher).Flush()
				}
			}
			if err != nil {
				return
			}
		}
	}))
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(c.reqBody))
	req.ContentLength = int64(len(c.reqBody))
	h.ServeHTTP(httptest.NewRecorder(), req)
	exs := store.Snapshot()
	if len(exs) != 2 {
		t.Fatalf("%d exchanges", len(exs))
	}
	var lines bytes.Buffer
	for _, ex := range exs {
		if ex.State != StateComplete {
			t.Fatalf("exchange %d %s", ex.ID, ex.State)
		}
		l, err := json.Marshal(ex)
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(l)
		lines.WriteByte('\n')
	}
	return lines.String()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c derivedCase) check(t *testing.T) {
	t.Helper()
	own, derived := c.records(t, false), c.records(t, true)
	if own != derived {
		t.Fatalf("%+v\nrecorded on its own:\n%s\nderived:\n%s", c, own, derived)
	}
}

// An event stream or a JSON answer cut into random pieces, read through random buffers, passed on as they came or
// changed, dropped, added to, or cut off by a failed write, with random bounds: the upstream copy's record derived
// is the one recorded on its own, byte for byte.
func TestDerivedIsRecordedRandomly(t *testing.T) {
	events := []string{
		"event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"p\":1}}\n\n",
		": keep-alive\r\n\r\n",
		"id: 2\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":7,\"result\":{}}\r\n\r\n",
		"data: {\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-32000,\"message\":\"no\"}}\n\n",
		"retry: 10\nevent: other\ndata: x\n\n",
		"data: [{\"jsonrpc\":\"2.0\",\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"b\"}]\r\r",
	}
	json := `[{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello"}]}},{"jsonrpc":"2.0","id":8,"error":{"code":1,"message":"m"}}]`
	r := rand.New(rand.NewPCG(18, 18))
	before := derivedRecords.Load()
	n := 400
	if testing.Short() {
		n = 50
	}
	for range n {
		var body string
		c := derivedCase{sse: r.IntN(4) != 0, bufSize: 1 + r.IntN(200), limit: 8 + r.IntN(400), maxEv: 1 + r.IntN(6),
			maxRPC: 1 + r.IntN(8), reqBody: `[{"jsonrpc":"2.0","id":7,"method":"tools/call"},{"jsonrpc":"2.0","id":8,"method":"x"}]`}
		if r.IntN(3) == 0 {
			c.reqBody = `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`
		}
		if c.sse {
			if r.IntN(2) == 0 {
				body = "\ufeff"
			}
			for range 1 + r.IntN(6) {
				body += events[r.IntN(len(events))]
			}
		} else {
			body = json
		}
		for len(body) > 0 { // random pieces
			k := 1 + r.IntN(min(len(body), 80))
			c.pieces = append(c.pieces, []byte(body[:k]))
			body = body[k:]
		}
		if r.IntN(2) == 0 { // else every piece passes on as it came
			for range 1 + r.IntN(4) {
				a := byte(0)
				if r.IntN(3) == 0 {
					a = byte(1 + r.IntN(4))
				}
				c.actions = append(c.actions, a)
			}
		}
		switch r.IntN(8) {
		case 0:
			c.clientCT = "application/json"
		case 1:
			c.clientCT = "text/event-stream"
		}
		c.check(t)
	}
	// the cases both derive (every piece passed on) and diverge (the others)
	if d := derivedRecords.Load() - before; d < uint64(n)/5 || d > uint64(n)*4/5 {
		t.Errorf("%d of %d upstream copies derived", d, n)
	}
}

func FuzzDerivedIsRecorded(f *testing.F) {
	f.Add(true, []byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n"), []byte{0}, uint8(7), uint16(64), uint8(3), uint8(3), false)
	f.Add(false, []byte(`{"jsonrpc":"2.0","id":7,"result":{}}`), []byte{0, 1}, uint8(5), uint16(20), uint8(1), uint8(1), true)
	f.Fuzz(func(t *testing.T, sse bool, body, actions []byte, piece uint8, limit uint16, maxEv, maxRPC uint8, flipCT bool) {
		if len(body) > 4096 || len(actions) > 16 {
			return
		}
		c := derivedCase{sse: sse, actions: actions, bufSize: 1 + int(piece)%64, limit: 1 + int(limit)%2048,
			maxEv: 1 + int(maxEv)%8, maxRPC: 1 + int(maxRPC)%8, reqBody: `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`}
		step := 1 + int(piece)%37
		for len(body) > 0 {
			k := min(step, len(body))
			c.pieces = append(c.pieces, body[:k])
			body = body[k:]
		}
		if flipCT {
			c.clientCT = map[bool]string{true: "application/json", false: "text/event-stream"}[sse]
		}
		c.check(t)
	})
}
