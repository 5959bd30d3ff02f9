package jsonscan

import (
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
