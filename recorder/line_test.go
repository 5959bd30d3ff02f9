package recorder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fill sets every field of v (a pointer) to a non-zero value built from s, recursively, so that a field added to
// Exchange later is exercised here without this test knowing its name.
func fill(v reflect.Value, s string, n int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), s, n)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 19, 5, 37, n*1000+1, time.FixedZone("x", 3600))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), s, n+i)
			}
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage{}) {
			v.SetBytes([]byte(`{"a": [1, "<&>` + "\u2028" + `"]}`))
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(s))
			return
		}
		sl := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(sl.Index(i), s, n+i)
		}
		v.Set(sl)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(n*1000 + 7))
	case reflect.Uint64, reflect.Uint:
		v.SetUint(uint64(n*1000 + 7))
	}
}

func sameAsJSONMarshal(t *testing.T, ex *Exchange) {
	t.Helper()
	want, werr := json.Marshal(ex)
	got, gerr := appendLine(nil, ex)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("json.Marshal error %v, appendLine error %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	if !bytes.Equal(got, append(want, '\n')) {
		t.Fatalf("appendLine differs from json.Marshal:\n got %s\nwant %s", got, want)
	}
}

func TestAppendLineIsJSONMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash\n\r\t\b\f\x00\x1f <script>&amp; \u2028\u2029 é 日本", "bad utf8 \xff\xfe end"} {
		ex := &Exchange{}
		fill(reflect.ValueOf(ex), s, 1)
		sameAsJSONMarshal(t, ex)
	}
	sameAsJSONMarshal(t, &Exchange{})                                                      // nil headers are null
	sameAsJSONMarshal(t, &Exchange{ReqHeaders: Headers{}, RespBody: Body{Data: []byte{}}}) // empty ones []
	sameAsJSONMarshal(t, &Exchange{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})   // both refuse
	sameAsJSONMarshal(t, &Exchange{RPC: []RPC{{ID: json.RawMessage(`{bad`)}}})             // both refuse
	sameAsJSONMarshal(t, benchExchange())
}

// FuzzAppendLine holds the capture writer's encoder to json.Marshal byte for byte, and the line to load back.
func FuzzAppendLine(f *testing.F) {
	f.Add("POST", "/mcp?x=<1>", "Mcp-Session-Id", "abc\u2028", []byte(benchCall), []byte(benchEvent), `7`, int64(-5))
	f.Add("", "", "", "", []byte{0xff, 0x00}, []byte(nil), `"a<b"`, int64(0))
	f.Fuzz(func(t *testing.T, method, url, hname, hvalue string, req, resp []byte, id string, n int64) {
		ex := &Exchange{ID: uint64(n), Kind: Inbound, Method: method, URL: url, Start: time.Unix(0, n).UTC(),
			Timings:    Timings{Wait: time.Duration(n), Total: time.Duration(-n)},
			ReqHeaders: Headers{{Name: hname, Value: hvalue}}, ReqBody: Body{Data: req, Size: n, Truncated: n%2 == 0},
			RespBody: Body{Data: resp}, Events: []SSEEvent{{At: time.Duration(n), Data: string(resp), ID: hvalue, Retry: int(n % 1000)}},
			Error: hvalue, Notes: []Note{{Key: hname, Value: string(req)}}, Toggles: []ToggleChange{{Name: method, Before: url}}}
		code := int(n)
		ex.RPC = []RPC{{From: FromClient, Method: hname, ID: json.RawMessage(id), ErrorCode: &code, ErrorMessage: hvalue, Event: -1}}
		ex.RPC = append(ex.RPC, ParseRPC(req, FromClient, -1)...)
		sameAsJSONMarshal(t, ex)
		line, err := appendLine(nil, ex)
		if err != nil {
			return
		}
		res, err := ReadCapture(bytes.NewReader(line))
		if err != nil || len(res.Exchanges) != 1 || res.TornTail || len(res.Skipped) > 0 {
			t.Fatalf("the line does not load: %v %+v\n%s", err, res, line)
		}
		if strings.Count(string(line), "\n") != 1 {
			t.Fatalf("a line with a raw newline: %q", line)
		}
	})
}

func TestAppendRawEscapes(t *testing.T) {
	for _, raw := range []string{`7`, `"a"`, `"a` + "\u2028" + `"`, `"<&>"`, `[1, 2]`, "{\"a\":\n1}", `"é"`} {
		sameAsJSONMarshal(t, &Exchange{RPC: []RPC{{ID: json.RawMessage(raw)}}})
	}
}

// Body's JSON is what it was when it went through encoding/json (bodyJSON), for any bytes.
func FuzzBodyJSON(f *testing.F) {
	f.Add([]byte("hello <b>\u2028"), int64(5), false)
	f.Add([]byte{0xff, 0xfe}, int64(2), true)
	f.Fuzz(func(t *testing.T, data []byte, size int64, truncated bool) {
		b := Body{Data: data, Size: size, Truncated: truncated}
		j := bodyJSON{Size: size, Truncated: truncated}
		if utf8.Valid(data) {
			s := string(data)
			j.Text = &s
		} else {
			j.Base64 = base64.StdEncoding.EncodeToString(data)
		}
		want, _ := json.Marshal(j)
		got, err := json.Marshal(b)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %s (%v), want %s", got, err, want)
		}
		var back Body
		if err := json.Unmarshal(got, &back); err != nil || !bytes.Equal(back.Data, data) || back.Size != size || back.Truncated != truncated {
			t.Fatalf("round trip: %+v %v", back, err)
		}
	})
}

// A proxied call's two lines — the client's exchange and the upstream copy derived from it — are encoded in one
// group with each body, the response's headers, the JSON-RPC messages (one list for both records: px19) and the
// events' data encoded once: the second line copies what the first one encoded (the same bytes, the store's shared parts), and
// the group is the lines appendLine writes one by one. Answered with JSON or with an event.
func TestCaptureLinesEncodeEachPartOnce(t *testing.T) {
	for _, sse := range []bool{false, true} {
		store := NewStore(StoreOptions{})
		var group []*Exchange
		store.OnComplete(func(ex *Exchange) { group = append(group, ex) })
		rec := New(store, Options{PublishDelay: time.Hour})
		proxiedCall(t, rec, &Transport{Base: memRoundTripper{sse: sse}, Recorder: rec, Derive: true})()
		if len(group) != 2 || group[0].Kind != Outbound || group[1].Kind != Inbound || len(group[0].RPC) != 2 {
			t.Fatalf("records: %+v", group)
		}
		if &group[0].RPC[0] != &group[1].RPC[0] {
			t.Errorf("sse %v: the two records' messages are two lists", sse)
		}
		var want []byte
		for _, ex := range group {
			want, _ = appendLine(want, ex)
		}
		var lp lineParts
		var got []byte
		for _, ex := range group {
			var err error
			if got, err = lp.appendLine(got, ex, nil); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("sse %v: the lines differ:\n got %s\nwant %s", sse, got, want)
		}
		want4 := 4
		if sse {
			want4 = 5 // and the event's data
		}
		if lp.copied != want4 {
			t.Errorf("sse %v: %d parts copied from the first line, want the request's and the response's bodies, the response's headers and the messages (and an event's data)", sse, lp.copied)
		}
		buf, _, err := encodeLines(nil, group, 0, false, nil)
		if err != nil || !bytes.Equal(buf, want) {
			t.Fatalf("sse %v: encodeLines: %v\n%s", sse, err, buf)
		}
	}
}

// A line left out of a group (an exchange json.Marshal refuses) takes the parts it encoded with it: the next line
// does not copy bytes that were written over.
func TestCaptureLinesForgetALineLeftOut(t *testing.T) {
	body := []byte(strings.Repeat(`{"a":"<b>"}`, 10))
	bad := &Exchange{ReqBody: Body{Data: body}, RPC: []RPC{{ID: json.RawMessage(`{bad`)}}}
	other := &Exchange{ID: 2, Method: "POST", ReqBody: Body{Data: []byte(strings.Repeat("x", 100))}}
	good := &Exchange{ID: 3, ReqBody: Body{Data: body, Size: int64(len(body))}}
	buf, _, err := encodeLines(nil, []*Exchange{bad, other, good}, 0, false, nil)
	if err == nil {
		t.Fatal("no error for the line left out")
	}
	want, _ := appendLine(nil, other)
	want, _ = appendLine(want, good)
	if !bytes.Equal(buf, want) {
		t.Fatalf("got %s\nwant %s", buf, want)
	}
}

// BenchmarkCaptureEncodePair encodes a proxied call's two lines (the upstream copy and the client's exchange, as
// the store hands them to the capture file): each on its own, or in one group where the second copies the bodies
// the first escaped.
func BenchmarkCaptureEncodePair(b *testing.B) {
	store := NewStore(StoreOptions{})
	var group []*Exchange
	store.OnComplete(func(ex *Exchange) { group = append(group, ex) })
	rec := New(store, Options{PublishDelay: time.Hour})
	proxiedCall(b, rec, &Transport{Base: memRoundTripper{}, Recorder: rec, Derive: true})()
	var buf []byte
	b.Run("each", func(b *testing.B) {
		for b.Loop() {
			buf = buf[:0]
			for _, ex := range group {
				buf, _ = appendLine(buf, ex)
			}
		}
	})
	b.Run("group", func(b *testing.B) {
		for b.Loop() {
			buf, _, _ = encodeLines(buf[:0], group, 0, false, nil)
		}
	})
}

// appendString is json.Marshal's string encoding wherever a byte to escape falls against the eight-byte steps in
// which it looks for one.
func TestAppendStringAtEveryOffset(t *testing.T) {
	for _, c := range []string{`"`, `\`, "<", ">", "&", "\n", "\x00", "\x1f", "\x7f", "é", "\u2028", "\u2029", "\xff", "日本"} {
		for pos := range 20 {
			for _, n := range []int{pos, pos + 1, 7, 8, 9, 16, 23} {
				s := strings.Repeat("a", pos) + c + strings.Repeat("b", max(0, n-pos))
				want, _ := json.Marshal(s)
				if got := appendString(nil, s); !bytes.Equal(got, want) {
					t.Fatalf("%q: got %s, want %s", s, got, want)
				}
				if got := appendString(nil, []byte(s)); !bytes.Equal(got, want) {
					t.Fatalf("%q as bytes: got %s, want %s", s, got, want)
				}
			}
		}
	}
}

// appendString writes what encoding/json writes for a string, byte for byte, for any bytes (the table-driven runs,
// the two-byte escapes stored without a branch, the six-byte ones, runes, invalid UTF-8, at any offset of a block).
func FuzzAppendString(f *testing.F) {
	f.Add([]byte(benchCall))
	f.Add([]byte("quote\" back\\slash\n\r\t\b\f\x00\x1f\x7f <script>&amp; \u2028\u2029 é 日本 \xff\xfe"))
	f.Add(bytes.Repeat([]byte("abcdefg\""), 200))
	f.Add(append(bytes.Repeat([]byte("a"), 511), "日本\u2028"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := json.Marshal(string(b))
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte("x") // appended after what dst holds
		if got := appendString(prefix, string(b)); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("%q: got %s, want %s", b, got[1:], want)
		}
		if got := appendString(nil, b); !bytes.Equal(got, want) {
			t.Fatalf("%q as bytes: got %s, want %s", b, got, want)
		}
	})
}

// BenchmarkAppendString encodes the strings a capture line is mostly made of: a JSON-RPC body (a quote to escape
// every few bytes), a long plain text and a header value.
func BenchmarkAppendString(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from the load generator, call 12345"},"_meta":{"progressToken":"p-3"}}}`)
	for _, c := range []struct {
		name string
		s    []byte
	}{{"body", body}, {"plain", bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), 40)}, {"header", []byte("Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyIn0")},
		{"unicode", []byte(strings.Repeat(`{"text":"日本語のテキスト — ünïcödé"}`, 8))}} {
		b.Run(c.name, func(b *testing.B) {
			var dst []byte
			b.SetBytes(int64(len(c.s)))
			onThreadCPU(b, 1, func() { dst = appendString(dst[:0], c.s) })
		})
	}
}

// BenchmarkCaptureEncodeCold encodes proxied calls' line pairs as the capture writer meets them in a busy process
// (cold: 20,000 calls recorded before, 64 lines a group, in order, their records long out of the caches) and as
// BenchmarkCaptureEncodePair does (hot: the same pair again and again), in the thread's CPU time per pair. The difference is what the writer's encoding pays for reading records that completed milliseconds
// earlier rather than at their completion.
func BenchmarkCaptureEncodeCold(b *testing.B) {
	const calls = 20000
	store := NewStore(StoreOptions{MaxCount: 4 * calls})
	var all []*Exchange
	store.OnComplete(func(ex *Exchange) { all = append(all, ex) })
	rec := New(store, Options{PublishDelay: time.Hour})
	call := proxiedCall(b, rec, &Transport{Base: memRoundTripper{}, Recorder: rec, Derive: true})
	for range calls {
		call()
	}
	if len(all) != 2*calls {
		b.Fatalf("%d records", len(all))
	}
	var buf []byte
	b.Run("cold", func(b *testing.B) {
		i := 0
		onThreadCPU(b, 32, func() {
			if i+64 > len(all) {
				i = 0
			}
			buf, _, _ = encodeLines(buf[:0], all[i:i+64], 0, false, nil)
			i += 64
		})
	})
	b.Run("hot", func(b *testing.B) {
		onThreadCPU(b, 1, func() { buf, _, _ = encodeLines(buf[:0], all[:2], 0, false, nil) })
	})
}
