package recorder

import (
	"testing"
	"unsafe"
)

// The texts a JSON-RPC message repeats are not looked up in unique's table (setShortString, rpcScanner.object): its
// method, when it is one of the words a record writes as one byte, is the recorder's own word; its "jsonrpc" member,
// of which only the presence is read, is the body's bytes; any other short method is still interned, and no text a
// message keeps refers to the body it was read from.
func TestRPCWordsAreTheRecordersOwn(t *testing.T) {
	body := []byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}},{"jsonrpc":"2.0","method":"x/custom"},{"jsonrpc":""}]`)
	in := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= uintptr(unsafe.Pointer(&body[0])) && p <= uintptr(unsafe.Pointer(&body[len(body)-1]))
	}
	raws, _, ok := scanRPC(nil, body, -1)
	if !ok || len(raws) != 3 {
		t.Fatalf("%d messages, ok %v", len(raws), ok)
	}
	if r := raws[0]; r.JSONRPC != "2.0" || !in(r.JSONRPC) {
		t.Errorf("jsonrpc %q is not the body's bytes", r.JSONRPC)
	}
	if r := raws[2]; r.JSONRPC != "" {
		t.Errorf("an empty jsonrpc reads %q", r.JSONRPC)
	}
	msgs := ParseRPC(body, FromClient, -1)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	i, _ := wordIndex("tools/call")
	if m := msgs[0]; m.Method != "tools/call" || unsafe.StringData(m.Method) != unsafe.StringData(words[i-1]) {
		t.Errorf("method %q is not the recorder's word", m.Method)
	}
	if m := msgs[1]; m.Method != "x/custom" || unsafe.StringData(m.Method) != unsafe.StringData(intern("x/custom")) {
		t.Errorf("method %q is not interned", m.Method)
	}
	for _, m := range msgs {
		if in(m.Method) {
			t.Errorf("method %q refers to the body", m.Method)
		}
	}
}
