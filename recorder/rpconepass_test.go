package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
)

// The JSON-RPC read in two passes, as it was before rpc19b: the body validated whole (jsonscan.Valid), then read
// by a scanner that trusts it. appendRPC reads it in one pass; it is held to this model (FuzzAppendRPCOnePass).

func appendRPCTwoPass(dst []RPC, spare, most int, body []byte, from string, event int) (_ []RPC, skipped int) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return dst, 0
	}
	if body[0] != '{' && body[0] != '[' || !jsonscan.Valid(body) {
		return dst, 0
	}
	limit := -1
	if most >= 0 {
		limit = max(0, most-len(dst))
	}
	var one [1]rawRPC
	raws, skipped, ok := scanRPCTwoPass(one[:0], body, limit)
	if !ok {
		return dst, 0
	}
	batch := body[0] == '['
	out := slices.Grow(dst, len(raws)+spare)
	if out == nil {
		out = []RPC{}
	}
	for _, r := range raws {
		if r.JSONRPC == "" && r.Method == "" && r.Result == nil && r.Error == nil {
			continue // not JSON-RPC
		}
		m := RPC{From: from, Method: r.Method, Event: event, Batch: batch}
		if len(r.ID) > 0 && !bytes.Equal(r.ID, []byte("null")) {
			m.ID = r.ID
		}
		if r.Method == "" && (r.Result != nil || r.Error != nil) {
			m.IsResponse = true
			if m.ID == nil && r.ID != nil {
				m.ID = r.ID // an error answer to an unparseable request carries id null
			}
		}
		if r.Error != nil {
			code := r.Error.Code
			m.ErrorCode, m.ErrorMessage = &code, r.Error.Message
		}
		out = append(out, m)
	}
	return out, skipped
}

func scanRPCTwoPass(raws []rawRPC, body []byte, limit int) (_ []rawRPC, rest int, ok bool) {
	s := &rpcScanner{b: body}
	if body[0] == '{' {
		if limit == 0 {
			return nil, 1, true
		}
		r, ok := objectTwoPass(s)
		return append(raws, r), 0, ok
	}
	if raws == nil {
		raws = []rawRPC{}
	}
	s.i++ // [
	for {
		s.ws()
		switch s.b[s.i] {
		case ']':
			return raws, rest, true
		case ',':
			s.i++
			continue
		}
		if limit >= 0 && len(raws) >= limit {
			s.value() // beyond the limit: counted, not read
			rest++
			continue
		}
		switch s.b[s.i] {
		case '{':
			r, ok := objectTwoPass(s)
			if !ok {
				return nil, 0, false
			}
			raws = append(raws, r)
		case 'n': // null decodes into the zero value
			s.i += 4
			raws = append(raws, rawRPC{})
		default:
			return nil, 0, false // a number, string, bool or array where a message belongs
		}
	}
}

func objectTwoPass(s *rpcScanner) (r rawRPC, ok bool) {
	s.i++ // {
	for {
		s.ws()
		switch s.b[s.i] {
		case '}':
			s.i++
			return r, true
		case ',':
			s.i++
			continue
		}
		k := key(s.value())
		s.ws()
		s.i++ // :
		s.ws()
		v := s.value()
		switch {
		case equalFold(k, keyJSONRPC):
			if !setShortString(&r.JSONRPC, v) {
				return r, false
			}
		case equalFold(k, keyMethod):
			if !setShortString(&r.Method, v) {
				return r, false
			}
		case equalFold(k, keyID):
			r.ID = v[:len(v):len(v)] // the body's own bytes (appendRPC's bodies are never written again)
		case equalFold(k, keyResult):
			r.Result = v[:len(v):len(v)] // only its presence is used
		case equalFold(k, keyError):
			switch v[0] {
			case 'n':
				r.Error = nil
			case '{':
				if r.Error == nil {
					r.Error = &struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					}{}
				}
				if !(&rpcScanner{b: v}).errorObject(&r.Error.Code, &r.Error.Message) {
					return r, false
				}
			default:
				return r, false
			}
		}
	}
}

// onePassMatchesTwoPass reads body as the recorder does (appendRPC, after some messages already held, with a bound
// on them) and as the two-pass model does, and compares everything they return.
func onePassMatchesTwoPass(t *testing.T, body []byte, held, spare, most int) {
	t.Helper()
	var dst []RPC
	if held > 0 {
		dst = make([]RPC, held, held+1)
		for i := range dst {
			dst[i] = RPC{From: FromClient, Method: "held", Event: -1}
		}
	}
	got, gotSkipped := appendRPC(slices.Clone(dst), spare, most, body, FromServer, 2)
	want, wantSkipped := appendRPCTwoPass(slices.Clone(dst), spare, most, body, FromServer, 2)
	if !reflect.DeepEqual(got, want) || gotSkipped != wantSkipped || (got == nil) != (want == nil) {
		t.Fatalf("%.200q (held %d, spare %d, most %d):\n got %+v skipped %d (nil %v)\nwant %+v skipped %d (nil %v)",
			body, held, spare, most, got, gotSkipped, got == nil, want, wantSkipped, want == nil)
	}
}

// onePassCases are bodies at each turn of the reader: the JSON grammar around the messages and inside the members
// it keeps and skips, the types of the members, the depth bound at every level, batches and their bound.
var onePassCases = []string{
	``, ` `, `{}`, `[]`, ` [ ] `, `{`, `[`, `{]`, `[}`, `{} x`, `[] x`, `{}{}`, `[][]`, `{},`, `[],`, `x`, `"x"`, `1`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi",}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"a":tru}}`, `{"jsonrpc":"2.0","id":01}`,
	`{"jsonrpc":"2.0","id":1,}`, `{,"jsonrpc":"2.0"}`, `{"jsonrpc":"2.0",,"id":1}`, `{"jsonrpc" "2.0"}`,
	`{"jsonrpc":"2.0" "id":1}`, `{"jsonrpc":}`, `{"jsonrpc"}`, `{jsonrpc:"2.0"}`, `{"jsonrpc":"2.0"]`, `{"a\x":1}`,
	`{"jsonrpc":"2.\0"}`, `{"method":"a` + "\x01" + `"}`, `{"method":"\u00e9"}`, `{"method":"\u00g9"}`,
	`{"method":5,"x":[}`, `{"method":5}`, `{"x":[},"method":5}`, `{"id":[1,2,{"a":"b"}] , "result":true}`,
	`{"id":[1,2,{"a":"b"}} , "result":true}`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m","data":{}}}`,
	`{"error":{"code":1.5}}`, `{"error":{"code":1e2}}`, `{"error":{"code":"1"}}`, `{"error":{"code":1,}}`,
	`{"error":{"code":1 "message":"m"}}`, `{"error":{"code":-}}`, `{"error":[}`, `{"error":nul}`, `{"error":null}`,
	`{"result":nul}`, `{"result":null}`, `{"id":null,"result":{}}`, "{\"method\":\"\xff\"}", `{"jſonrpc":"2.0"}`,
	`[{"jsonrpc":"2.0","id":1,"result":{}},null,{"jsonrpc":"2.0","method":"n"}]`, `[null]`, `[nul]`, `[nulll]`,
	`[null,]`, `[,null]`, `[null null]`, `[{} {}]`, `[{},,{}]`, `[{},]`, `[{}`, `[{},`, `[1]`, `[[]]`, `["a"]`,
	`[{"method":"a"},1]`, `[{"method":"a"},{"method":"b"},[1,]]`, `[{"method":"a"},{"method":"b"},[1,2]]`,
	`[{"method":"a"},{"method":"b"},"x",true,{"c":[{}]}]`, `[{"method":"a"},{"method":"b"},"x",true,{"c":[{]}]`,
	`[{"method":"a"},{"method":"b"}] x`, `[{"method":"a"},{"method":"b"}]]`, ` [ { "method" : "a" } , null ] `,
	"{\"method\":\"a\"}\x0b", "\u00a0{\"method\":\"a\"}", `{"method":"a"}` + "\u0085",
	`{"method":"a","params":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
	`{"method":"a","params":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"method":"a","params":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`[{"method":"a","params":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}]`,
	`[{"method":"a","params":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]`,
	`[{"method":"a"},` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `]`,
	`[{"method":"a"},` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `]`,
	`{"error":{"code":1,"data":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}}`,
	`{"error":{"code":1,"data":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}}`,
	`{"method":"a","params":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9998) + `}`,
}

// onePassBounds are the (held, spare, most) the recorder reads bodies with: no bound, a bound above, at and
// below what a body holds, messages already held.
var onePassBounds = [][3]int{{0, 0, -1}, {0, 1, -1}, {0, 0, 0}, {0, 0, 1}, {0, 1, 2}, {1, 0, 2}, {2, 0, 2}, {3, 0, 2}, {0, 0, 100}}

func TestAppendRPCOnePass(t *testing.T) {
	for _, c := range onePassCases {
		for _, b := range onePassBounds {
			onePassMatchesTwoPass(t, []byte(c), b[0], b[1], b[2])
		}
	}
}

// The golden captures' bodies and events read the same in one pass and in two.
func TestAppendRPCOnePassCaptures(t *testing.T) {
	files, _ := filepath.Glob("analysis/testdata/*.jsonl")
	more, _ := filepath.Glob("analysis/testdata/*/*.jsonl")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("%d capture files", len(files))
	}
	bodies := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ReadCapture(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, ex := range res.Exchanges {
			in := [][]byte{ex.ReqBody.Data, ex.RespBody.Data}
			for _, ev := range ex.Events {
				in = append(in, []byte(ev.Data))
			}
			for _, body := range in {
				bodies++
				for _, b := range onePassBounds {
					onePassMatchesTwoPass(t, body, b[0], b[1], b[2])
				}
			}
		}
	}
	t.Logf("%d bodies in %d captures", bodies, len(files))
}

func FuzzAppendRPCOnePass(f *testing.F) {
	for _, c := range onePassCases {
		if len(c) < 1000 {
			f.Add([]byte(c), uint8(0), int8(-1))
		}
	}
	f.Add([]byte(`[{"method":"a"},{"method":"b"},"x",true,{"c":[{]}]`), uint8(0), int8(1))
	f.Fuzz(func(t *testing.T, body []byte, held uint8, most int8) {
		onePassMatchesTwoPass(t, body, int(held%4), int(held/4%2), int(most))
	})
}

// BenchmarkAppendRPCPasses reads bodies as the recorder does (appendRPC) in one pass and as the model does in two
// (validated whole, then scanned): a tools/call's request and its answer (what each recorded call reads), a
// 4 KiB answer, a batch of three.
func BenchmarkAppendRPCPasses(b *testing.B) {
	answer := []byte(benchEvent[38 : len(benchEvent)-2])
	big := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` + strings.Repeat(`lorem ipsum \"dolor\" sit amet, `, 128) + `"}],"structuredContent":{"n":[1,2.5,-3e2,true,false,null]}}}`)
	batch := []byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a","progress":1}},{"jsonrpc":"2.0","id":2,"result":{}}]`)
	for _, tc := range []struct {
		name   string
		bodies [][]byte
	}{{"call", [][]byte{[]byte(benchCall), answer}}, {"4KiB", [][]byte{big}}, {"batch", [][]byte{batch}}} {
		for _, read := range []struct {
			name string
			f    func([]RPC, int, int, []byte, string, int) ([]RPC, int)
		}{{"one-pass", appendRPC}, {"two-pass", appendRPCTwoPass}} {
			b.Run(tc.name+"/"+read.name, func(b *testing.B) {
				b.ReportAllocs()
				var buf [4]RPC
				for b.Loop() {
					msgs := buf[:0]
					for _, body := range tc.bodies {
						msgs, _ = read.f(msgs, 0, 100, body, FromClient, -1)
					}
					if len(msgs) == 0 {
						b.Fatal("no message")
					}
				}
			})
		}
	}
}

// TestDeepMembersAllocateOnce : a stranger's body whose members are each more than 128 levels deep —
// an object's members, or a batch's elements past the bound on messages — is checked with the level words past
// 128 levels allocated once a body, not once a member: a 1 MiB body of 4,049 such members made the recorder
// allocate 5.2–6.2 MB (one 1,264-byte set of words a member) where reading it in two passes allocated 1.7 KB.
func TestDeepMembersAllocateOnce(t *testing.T) {
	deep := strings.Repeat("[", 129) + strings.Repeat("]", 129)
	const members = 500
	obj := `{"jsonrpc":"2.0","method":"a"` + strings.Repeat(`,"k":`+deep, members) + `}`
	batch := `[{"jsonrpc":"2.0","method":"a"}` + strings.Repeat(","+deep, members) + `]`
	for _, c := range []struct {
		name     string
		body     []byte
		most     int
		messages int
		skipped  int
	}{{"object", []byte(obj), -1, 1, 0}, {"batch past the bound", []byte(batch), 1, 1, members}} {
		rpc, skipped := appendRPC(nil, 0, c.most, c.body, FromClient, -1)
		if len(rpc) != c.messages || skipped != c.skipped {
			t.Fatalf("%s: %d messages, %d skipped; want %d, %d", c.name, len(rpc), skipped, c.messages, c.skipped)
		}
		allocs := testing.AllocsPerRun(5, func() { appendRPC(nil, 0, c.most, c.body, FromClient, -1) })
		if allocs > 5 {
			t.Errorf("%s of %d members more than 128 levels deep: %.0f allocations a read, want a few (not one a member)", c.name, members, allocs)
		}
	}
}
