package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// validCases are values and near-values at every turn of the grammar.
var validCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, "\t[\r\n]\n", `{`, `}`, `[`, `]`, `{]`, `[}`, `[[]]`, `[[]`, `[]]`, `{}{}`, `{} x`,
	`"a"`, `"`, `"\"`, `"\\"`, `"\/\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, "\"\x01\"",
	"\"\x7f\"", "\"\xff\xfe\"", `"é"`, `"a`, `"\u`, `"\u12`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.5e10`, `123456789012345678901234567890`,
	`+1`, `0x1`, `1.5.5`, `--1`, `0.0e0`,
	`true`, `false`, `null`, `tru`, `truex`, `nul`, `nulll`, `True`, `NULL`,
	`{"a":1}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" : 1 , "b" : [1, 2, {"c": null}]}`, `{1:2}`, `{"a":1 "b":2}`,
	`[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `[{"a":[{"b":{}}]}]`, `["a":1]`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
	`[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"x"}}]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
	strings.Repeat("[", 10001),
	strings.Repeat("[{}", 64) + strings.Repeat("]", 64),
	strings.Repeat("[{\"a\":", 40) + "0" + strings.Repeat("}]", 40),
	strings.Repeat("[{\"a\":", 40) + "0" + strings.Repeat("]}", 40),
	strings.Repeat("[{\"a\":", 100) + "0" + strings.Repeat("}]", 100),
	strings.Repeat("[{\"a\":", 100) + "0" + strings.Repeat("}]", 99) + "]}",
	strings.Repeat("[{\"a\":", 100) + "0" + "]}" + strings.Repeat("}]", 99),
	"[" + strings.Repeat("{\"a\":", 200) + "[]" + strings.Repeat("}", 200) + "]",
}

func TestValidIsJSONValid(t *testing.T) {
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.80q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

func FuzzValidIsJSONValid(f *testing.F) {
	for _, c := range validCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// BenchmarkValid checks a tools/call's request and answer, as appendRPC does for a proxied call.
func BenchmarkValid(b *testing.B) {
	bodies := [][]byte{
		[]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, the quick brown fox jumps over the lazy dog"}}}`),
		[]byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello, the quick brown fox jumps over the lazy dog"}]}}`),
	}
	b.Run("jsonscan.Valid", func(b *testing.B) {
		for b.Loop() {
			for _, body := range bodies {
				Valid(body)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		for b.Loop() {
			for _, body := range bodies {
				json.Valid(body)
			}
		}
	})
}

// skipValidAgrees checks SkipValid on b inside open arrays against json.Valid: b is a value there exactly when it
// is valid JSON alone and the document of it inside open arrays is too (the depth bound), and SkipValid ends at the
// value's last byte whatever follows it.
func skipValidAgrees(t *testing.T, b []byte, open int) {
	t.Helper()
	v := bytes.TrimLeft(b, " \t\r\n")
	doc := strings.Repeat("[", open) + string(v) + strings.Repeat("]", open)
	end := SkipValid(v, 0, open)
	got := end >= 0 && SkipSpace(v, end) == len(v)
	// with level words kept from an earlier value, all of them set (SkipValidDeep reuses them): the same answer
	dirty := make([]uint64, maxJSONDepth/64+1)
	for i := range dirty {
		dirty[i] = ^uint64(0)
	}
	if deep := SkipValidDeep(v, 0, open, &dirty); deep != end {
		t.Fatalf("SkipValidDeep(%.80q, 0, %d) with used level words = %d, SkipValid %d", v, open, deep, end)
	}
	if want := json.Valid(v) && json.Valid([]byte(doc)); got != want {
		t.Fatalf("SkipValid(%.80q, 0, %d) = %d, json.Valid says %v", v, open, end, want)
	}
	if got {
		if end == 0 || bytes.ContainsAny(v[end-1:end], " \t\r\n") {
			t.Fatalf("SkipValid(%.80q, 0, %d) = %d: not the value's end", v, open, end)
		}
		if again := SkipValid(append(v[:end:end], " ,}x"...), 0, open); again != end {
			t.Fatalf("SkipValid(%.80q + more, 0, %d) = %d, want %d", v, open, again, end)
		}
	}
}

func TestSkipValid(t *testing.T) {
	for _, c := range validCases {
		for _, open := range []int{0, 1, 2, 63, 64, 9999, 10000} {
			skipValidAgrees(t, []byte(c), open)
		}
	}
	if got := SkipValid([]byte(`{"a":[1,"]"]} , 2`), 0, 0); got != 13 {
		t.Errorf("SkipValid stops at %d, want 13", got)
	}
}

func FuzzSkipValid(f *testing.F) {
	for _, c := range validCases {
		if len(c) < 1000 {
			f.Add([]byte(c), uint16(1))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, open uint16) {
		skipValidAgrees(t, b, int(open%10002))
	})
}
