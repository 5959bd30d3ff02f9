package recorder

// Fuzz targets for the recorder's parsers (script/fuzz runs each briefly; seeds in testdata/fuzz):
//
//	go test ./recorder -run '^$' -fuzz '^FuzzSSEParser$' -fuzztime 30s

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The SSE parser never panics, splitting the stream anywhere gives the same events, an event never holds a raw
// line break outside its data, and bounded lines stay bounded.
func FuzzSSEParser(f *testing.F) {
	f.Add([]byte("event: message\nid: 1\ndata: {\"a\":1}\n\n"), uint8(3))
	f.Add([]byte("\xef\xbb\xbfdata: x\r\ndata: y\r\rretry: 10\n\n: c\n\nid: a\x00\n\n"), uint8(1))
	f.Add([]byte("data: \r"), uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, split uint8) {
		whole := (&SSEParser{}).Feed(stream)
		p := &SSEParser{}
		var parts []SSEEvent
		step := int(split%16) + 1
		for i := 0; i < len(stream); i += step {
			parts = append(parts, p.Feed(stream[i:min(i+step, len(stream))])...)
		}
		if fmtEvents(whole) != fmtEvents(parts) {
			t.Fatalf("split every %d bytes:\n got %s\nwant %s", step, fmtEvents(parts), fmtEvents(whole))
		}
		// Cut in place from an append-only body, as the recorder cuts a stream (AppendFeedInPlace): the same events.
		ip := &SSEParser{}
		var body []byte
		var inPlace []SSEEvent
		for i := 0; i < len(stream); i += step {
			held := len(body)
			body = append(body, stream[i:min(i+step, len(stream))]...)
			inPlace = ip.AppendFeedInPlace(inPlace, body[held:])
		}
		if fmtEvents(whole) != fmtEvents(inPlace) {
			t.Fatalf("in place, split every %d bytes:\n got %s\nwant %s", step, fmtEvents(inPlace), fmtEvents(whole))
		}
		for _, ev := range whole {
			if strings.ContainsAny(ev.ID+ev.Event, "\r\n") || strings.ContainsRune(ev.ID, 0) || ev.Retry < 0 {
				t.Fatalf("event %+v", ev)
			}
		}
		small := &SSEParser{MaxLine: 8}
		smallEvs := small.Feed(stream)
		for _, ev := range smallEvs {
			if len(ev.ID) > 8 || len(ev.Event) > 8 {
				t.Fatalf("MaxLine 8: %+v", ev)
			}
		}
		if got := (&SSEParser{MaxLine: 8}).AppendFeedInPlace(nil, bytes.Clone(stream)); fmtEvents(got) != fmtEvents(smallEvs) {
			t.Fatalf("MaxLine 8 in place:\n got %s\nwant %s", fmtEvents(got), fmtEvents(smallEvs))
		}
	})
}

// ParseRPC never panics, and finds a message exactly where encoding/json sees a JSON-RPC object (or a batch of
// them): ids are kept raw, errors keep their code.
func FuzzParseRPC(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":"a","result":{}},{"jsonrpc":"2.0","method":"n"}]`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`))
	f.Add([]byte(` [1, null, "x"] `))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs := ParseRPC(body, FromClient, -1)
		if len(msgs) > 0 && !json.Valid(body) {
			t.Fatalf("messages found in invalid JSON %q: %+v", body, msgs)
		}
		for _, m := range msgs {
			if len(m.ID) > 0 && !json.Valid(m.ID) {
				t.Fatalf("id %q is not JSON", m.ID)
			}
			if m.IsResponse && m.Method != "" {
				t.Fatalf("a response with a method: %+v", m)
			}
			if m.From != FromClient || m.Event != -1 {
				t.Fatalf("%+v", m)
			}
		}
		pairReplies(msgs) // never panics either
		line, err := appendLine(nil, &Exchange{RPC: msgs, ReqBody: Body{Data: body}})
		if err != nil {
			t.Fatalf("a parsed message does not encode: %v", err)
		}
		if res, err := ReadCapture(bytes.NewReader(line)); err != nil || len(res.Exchanges) != 1 {
			t.Fatalf("does not load back: %v", err)
		}
	})
}

// Loading a capture never panics and never invents data: every line that loads is a JSON object on one line of
// the input, each complete line either loads or is listed as skipped, only the last line can be a torn tail, and
// what loaded writes back as lines that load again to the same exchanges.
func FuzzReadCapture(f *testing.F) {
	ex := benchExchange()
	line, _ := appendLine(nil, ex)
	f.Add(line)
	f.Add(append(append(append([]byte{}, line...), line...), line[:len(line)/2]...))
	f.Add([]byte("{}\n\n   \n{\"id\":\n[1]\nnull\n{\"requestBody\":{\"base64\":\"!!\"}}\n"))
	f.Add([]byte(`{"id":1,"start":"not a time"}` + "\n" + `{"id":2,"requestBody":{"text":"é","size":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ReadCapture(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("error on %d bytes: %v", len(data), err)
		}
		lines := bytes.SplitAfter(data, []byte("\n"))
		nonBlank := 0
		for _, l := range lines {
			if len(bytes.TrimSpace(l)) > 0 {
				nonBlank++
			}
		}
		torn := 0
		if res.TornTail {
			torn = 1
			if bytes.HasSuffix(data, []byte("\n")) {
				t.Fatalf("torn tail on input ending in a newline")
			}
		}
		if len(res.Exchanges)+len(res.Skipped)+torn != nonBlank {
			t.Fatalf("%d loaded + %d skipped + %d torn != %d non-blank lines", len(res.Exchanges), len(res.Skipped), torn, nonBlank)
		}
		var out []byte
		for _, ex := range res.Exchanges {
			if out, err = appendLine(out, ex); err != nil {
				return // a value encoding/json cannot write either (e.g. a year past 9999); never a panic
			}
		}
		again, err := ReadCapture(bytes.NewReader(out))
		if err != nil || len(again.Exchanges) != len(res.Exchanges) || len(again.Skipped) > 0 || again.TornTail {
			t.Fatalf("rewritten capture: %v, %d of %d loaded, skipped %v", err, len(again.Exchanges), len(res.Exchanges), again.Skipped)
		}
		for i := range res.Exchanges {
			a, _ := json.Marshal(res.Exchanges[i])
			b, _ := json.Marshal(again.Exchanges[i])
			if !bytes.Equal(a, b) && utf8.Valid(a) {
				t.Fatalf("exchange %d changed on a round trip:\n%s\n%s", i, a, b)
			}
		}
	})
}

// parseRPCReflect is ParseRPC as it was, on encoding/json: the reference the scanner is held to.
func parseRPCReflect(body []byte, from string, event int) []RPC {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	var raws []rawRPC
	batch := false
	switch body[0] {
	case '{':
		var r rawRPC
		if json.Unmarshal(body, &r) != nil {
			return nil
		}
		raws = []rawRPC{r}
	case '[':
		if json.Unmarshal(body, &raws) != nil {
			return nil
		}
		batch = true
	default:
		return nil
	}
	out := make([]RPC, 0, len(raws))
	for _, r := range raws {
		if r.JSONRPC == "" && r.Method == "" && r.Result == nil && r.Error == nil {
			continue
		}
		m := RPC{From: from, Method: r.Method, Event: event, Batch: batch}
		if len(r.ID) > 0 && !bytes.Equal(r.ID, []byte("null")) {
			m.ID = r.ID
		}
		if r.Method == "" && (r.Result != nil || r.Error != nil) {
			m.IsResponse = true
			if m.ID == nil && r.ID != nil {
				m.ID = r.ID
			}
		}
		if r.Error != nil {
			code := r.Error.Code
			m.ErrorCode, m.ErrorMessage = &code, r.Error.Message
		}
		out = append(out, m)
	}
	return out
}

// The scanner reads exactly what encoding/json reads, for any body.
func FuzzParseRPCMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"a":[1,{"b":"}"}]}}`,
		`{"JSONRPC":"2.0","ID":"x","Result":null,"jsonrpc":"1.0"}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{}}}`,
		`{"error":{"code":1.5}}`, `{"error":{"code":1e2}}`, `{"error":{"code":"1"}}`, `{"error":{"code":99999999999999999999}}`,
		`{"error":{"code":1},"error":{"message":"m"}}`, `{"error":{"code":1},"error":null}`, `{"error":[]}`,
		`{"method":5}`, `{"method":null,"jsonrpc":null}`, `{"me\u0074hod":"x\ud800y"}`, `{"methoD":"\u00e9\n"}`,
		`{"jſonrpc":"2.0"}`, "{\"method\":\"\xff\"}",
		`[{"jsonrpc":"2.0","id":1,"result":{}},null,{"jsonrpc":"2.0","method":"n"}]`, `[1]`, `[[]]`, `[]`, ` [ { } ] `,
		`{"id" : [1, 2 ,{"a" :"b"}] , "result":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, want := ParseRPC(body, FromServer, 3), parseRPCReflect(body, FromServer, 3)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}
