package recorder

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// A proxied call's two records packed in one store call (completePair: the upstream copy, then its client's record
// with the copy as its like) read back as they were added, and each part the packer wrote — found by a header
// list's fingerprint (putHeaders' lastLists), copied from the copy's messages' part (pack's rpcSec), or encoded —
// is byte for byte what the plain encoding gives (packHeaders, appendRest without a copy: the packer before the
// fingerprints and the copy). The pairs are random: the client's record shares the copy's message list, bodies and
// answer headers (the same slices) or holds equal copies or other ones; the header lists come from a small pool in
// which lists differ only where the fingerprint does not look (a name's case, the names' order, a value's second
// byte), hold empty values, are nil or empty, so that fingerprints collide and the full read must tell them apart.
func TestPackedPairsMatchThePlainEncoding(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprint("split=", split), func(t *testing.T) {
			g := &gen{r: rand.New(rand.NewPCG(21, 3))}
			s := NewStore(StoreOptions{MaxBytes: 256 << 10})
			if split {
				s.bodyMin = 64 // bodies of at least 64 bytes go to the capture file (pack's reqFile, respFile)
			}
			n := 3000
			if testing.Short() {
				n = 500
			}
			var sharedRPC, sharedRPCOtherBody int
			for i := range n {
				child, parent := randomPair(g)
				if len(child.RPC) > 0 && len(parent.RPC) > 0 && &child.RPC[0] == &parent.RPC[0] {
					sharedRPC++
					if !sameSlice(child.RespBody.Data, parent.RespBody.Data) || !sameSlice(child.ReqBody.Data, parent.ReqBody.Data) {
						sharedRPCOtherBody++
					}
				}
				checkPair(t, s, fmt.Sprint("pair ", i), child, parent)
			}
			checkAccount(t, s)
			s.mu.Lock()
			copied, matched := s.pk.rpcCopied, s.pk.listsMatched
			s.mu.Unlock()
			t.Logf("%d pairs: %d share the message list (%d of them not the bodies), %d messages' parts copied, %d header lists matched",
				n, sharedRPC, sharedRPCOtherBody, copied, matched)
			if copied < n/10 || sharedRPCOtherBody < n/20 || matched < n/2 {
				t.Errorf("the pairs did not take the paths under test: %d copied, %d shared lists with other bodies, %d lists matched",
					copied, sharedRPCOtherBody, matched)
			}
		})
	}
}

// FuzzPackedPairsMatchThePlainEncoding is TestPackedPairsMatchThePlainEncoding for pairs a fuzzer's bytes choose.
func FuzzPackedPairsMatchThePlainEncoding(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{3, 1, 2, 0, 255, 7, 9, 4}, 60))
	s := NewStore(StoreOptions{MaxBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, choices []byte) {
		for i := 0; i < 4 && (i == 0 || len(choices) > 0); i++ {
			g := &gen{buf: choices}
			child, parent := randomPair(g)
			choices = g.buf
			checkPair(t, s, fmt.Sprint("pair ", i), child, parent)
		}
	})
}

// headerPool gives header lists that often collide in listPrint: names of another case or order, values of the
// same length and first, middle and last bytes, empty values; nil and empty lists; each in strings of its own.
func (g *gen) headerList() Headers {
	switch g.n(8) {
	case 0:
		return nil
	case 1:
		return Headers{}
	}
	names := []string{"Accept", "accept", "Content-Type", "Mcp-Session-Id", "Mcp-Session-ID", "X"}
	values := []string{"a1b2c", "a2b1c", "a1b1c", "", "application/json", "x"}
	h := make(Headers, 1+g.n(4))
	for i := range h {
		h[i] = Header{strings.Clone(names[g.n(len(names))]), strings.Clone(values[g.n(len(values))])}
	}
	return h
}

// randomPair returns an upstream copy and its client's exchange as derive.go makes them, in their varieties: the
// client's holds the copy's message list, bodies and answer headers, or equal copies of them, or other ones.
func randomPair(g *gen) (child, parent *Exchange) {
	child = g.exchange()
	child.Kind = Outbound
	child.ReqHeaders, child.RespHeaders = g.headerList(), g.headerList()
	c := *child
	parent = &c
	parent.Kind = Inbound
	parent.ReqHeaders = g.headerList()
	if g.n(4) == 0 {
		parent.ReqHeaders = cloneHeaders(child.ReqHeaders) // equal lines, strings of their own
	}
	switch g.n(3) {
	case 0: // the copy's answer headers (the same slice), as a derived copy's client record holds them
	case 1:
		parent.RespHeaders = cloneHeaders(child.RespHeaders)
	default:
		parent.RespHeaders = g.headerList()
	}
	for _, b := range []*Body{&parent.ReqBody, &parent.RespBody} {
		switch g.n(4) {
		case 0: // the same bytes in a slice of their own
			b.Data = bytes.Clone(b.Data)
		case 1: // another body (a toggle rewrote the answer; a diverged copy)
			b.Data = g.bytes()
		}
	}
	switch g.n(4) {
	case 0: // equal messages in a list of their own
		parent.RPC = append([]RPC(nil), child.RPC...)
	case 1: // other messages
		parent.RPC = g.exchange().RPC
	} // else the copy's list (heldPair.sameRPC)
	return child, parent
}

func cloneHeaders(h Headers) Headers {
	if h == nil {
		return nil
	}
	c := make(Headers, len(h))
	for i, x := range h {
		c[i] = Header{strings.Clone(x.Name), strings.Clone(x.Value)}
	}
	return c
}

// checkPair completes child and parent in one store call and holds each record to what was added (Get) and each
// of its header and own parts to the plain encoding of the exchange it was packed from.
func checkPair(t *testing.T, s *Store, name string, child, parent *Exchange) {
	t.Helper()
	s.begin(child)
	s.begin(parent)
	wantChild, wantParent := *child, *parent
	s.completePair(child, parent)
	for _, x := range []struct {
		what string
		ex   *Exchange
	}{{"copy", &wantChild}, {"client", &wantParent}} {
		what := name + " " + x.what
		checkPacked(t, what, x.ex, s.Get(x.ex.ID))
		s.mu.Lock()
		rec, tb := s.rec(x.ex.ID), s.pk.table()
		if rec == nil || rec.live {
			s.mu.Unlock()
			t.Fatalf("%s: not packed", what)
		}
		for _, h := range []struct {
			i    int
			list Headers
		}{{partReqHeaders, x.ex.ReqHeaders}, {partRespHeaders, x.ex.RespHeaders}} {
			r := rec.refs[h.i]
			if h.list == nil && r.slab != refNil || h.list != nil && !bytes.Equal(tb.part(r), packHeaders(nil, h.list)) {
				s.mu.Unlock()
				t.Fatalf("%s: header part %d is %q (ref %v), the list %q encodes as %q", what, h.i, tb.part(r), r, h.list, packHeaders(nil, h.list))
			}
		}
		reqFile, respFile := toFile(x.ex.ReqBody.Data, s.bodyMin), toFile(x.ex.RespBody.Data, s.bodyMin)
		got, want := tb.part(rec.refs[partRest]), s.pk.appendRest(nil, x.ex, reqFile, respFile, nil)
		s.mu.Unlock()
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: own part\n%q, encoded\n%q", what, got, want)
		}
	}
}

// A header list equal to one packed before its slab stopped being recent (neither the current slab nor the one
// before it) is packed again, in the current slab, rather than found by its fingerprint (putHeaders' lastLists) and
// made a reference to the old slab: sharing refers only to the recent slabs, so that a record keeps at most those
// alive beyond its own (a long-lived record's old slab would otherwise stay for every record sharing its list).
func TestHeaderListOfAnOldSlabIsPackedAgain(t *testing.T) {
	s := NewStore(StoreOptions{MaxBytes: 1 << 20}) // 64 KiB slabs
	list := Headers{{"Content-Type", "application/json"}, {"Mcp-Session-Id", "a1b2c"}}
	add := func(h Headers, body []byte) *packed {
		ex := &Exchange{Kind: Inbound, State: StateComplete, ReqHeaders: cloneHeaders(h), ReqBody: Body{Data: body, Size: int64(len(body))}}
		id := s.Add(ex)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.rec(id)
	}
	first := add(list, nil).refs[partReqHeaders]
	if again := add(list, nil).refs[partReqHeaders]; again != first {
		t.Fatalf("the list packed again at once is %v, not a reference to %v", again, first)
	}
	// one-of-a-kind bodies without header lists (nothing takes the list's set) fill two slabs and more
	r := rand.New(rand.NewPCG(1, 9))
	for range 3 * 64 {
		b := make([]byte, 1000)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		add(nil, b)
	}
	s.mu.Lock()
	cur, prev := s.pk.curSlab, s.pk.prevSlab
	s.mu.Unlock()
	if first.slab == cur || first.slab == prev {
		t.Fatalf("the list's slab %d is still recent (current %d, previous %d)", first.slab, cur, prev)
	}
	got := add(list, nil).refs[partReqHeaders]
	if got.slab != cur {
		t.Errorf("the list packed after its slab %d stopped being recent is in slab %d, not the current %d", first.slab, got.slab, cur)
	}
}

// The messages' part the client's record copies is its like's own (pack's rpcSec is remembered with the record it
// was encoded for), whatever was packed in between: here another record holding the same message list, found in
// other bodies, was packed after the copy and before its client's record. Remembered by the list's address, the
// part of the record packed last was taken for the copy's.
func TestClientRecordCopiesItsLikesMessagesOnly(t *testing.T) {
	s := NewStore(StoreOptions{})
	id := func(v string) []byte { return []byte(v) }
	req, resp := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call"}`), []byte(`{"jsonrpc":"2.0","id":7,"result":{}}`)
	child := &Exchange{Kind: Outbound, ReqBody: Body{Data: req, Size: int64(len(req))}, RespBody: Body{Data: resp, Size: int64(len(resp))},
		RPC: []RPC{{From: FromClient, Method: "tools/call", ID: id("7"), Event: -1}, {From: FromServer, ID: id("7"), IsResponse: true, ReplyTo: "tools/call", Event: -1}}}
	// the same list in bodies where its ids are elsewhere (and sizes alike, so that nothing else tells them apart)
	other := *child
	other.ReqBody.Data = []byte(`{"jsonrpc":"2.0","method":"tools/call","id":7}`)
	other.RespBody.Data = []byte(`{"jsonrpc":"2.0","result":{},"id":7}`)
	parent := *child
	parent.Kind = Inbound
	s.mu.Lock()
	defer s.mu.Unlock()
	var crec, orec, prec packed
	s.pk.pack(&crec, child, 0, nil, nil)
	s.pk.pack(&orec, &other, 0, nil, nil)
	s.pk.pack(&prec, &parent, 0, &crec, child)
	tb := s.pk.table()
	for _, x := range []struct {
		what string
		rec  *packed
		ex   *Exchange
	}{{"copy", &crec, child}, {"other", &orec, &other}, {"client", &prec, &parent}} {
		if got, want := tb.part(x.rec.refs[partRest]), s.pk.appendRest(nil, x.ex, false, false, nil); !bytes.Equal(got, want) {
			t.Errorf("%s's own part\n%q, encoded\n%q", x.what, got, want)
		}
	}
}
