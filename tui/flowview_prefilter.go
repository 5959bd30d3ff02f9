package tui

import (
	"strconv"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// sig is a signature: [0] has a bit per byte of sigBytes held (bit 63: any other byte), [1] and [2] a 128-bit
// Bloom filter of the byte pairs.
type sig [3]uint64

// sigBytes are the bytes with a bit of their own (a hay is lower case).
const sigBytes = "abcdefghijklmnopqrstuvwxyz0123456789/.-_:?=&%"

var sigBit = func() (t [256]uint8) {
	for i := range t {
		t[i] = 63
	}
	for i := range len(sigBytes) {
		t[sigBytes[i]] = uint8(i)
	}
	return t
}()

func sigOf(s string) sig {
	var g sig
	for i := range len(s) {
		g[0] |= 1 << sigBit[s[i]]
		if i+1 < len(s) {
			h := (uint32(s[i])<<8 | uint32(s[i+1])) * 0x9E3779B1 >> 25 // 7 bits
			g[1+h>>6] |= 1 << (h & 63)
		}
	}
	return g
}

// holds reports whether everything of w may be in g.
func (g *sig) holds(w sig) bool { return g[0]&w[0] == w[0] && g[1]&w[1] == w[1] && g[2]&w[2] == w[2] }

// exact reports whether a word is decided by the signature alone: one byte with a bit of its own.
func exact(word string) bool { return len(word) == 1 && sigBit[word[0]] != 63 }

// textOK reports whether the filter's words match a row's hay, searching each distinct hay once per filter.
func (d *flowView) textOK(r *row) bool {
	id := r.hid
	if int(id) >= len(d.hayGen) {
		n := max(len(d.hays), int(id)+1)
		d.hayGen = append(d.hayGen, make([]uint32, n-len(d.hayGen))...)
		d.hayRes = append(d.hayRes, make([]bool, n-len(d.hayRes))...)
	}
	if d.hayGen[id] != d.gen {
		d.hayGen[id] = d.gen
		d.hayRes[id] = d.filter.matchText(d, id)
	}
	return d.hayRes[id]
}

// hayOf is what a filter word is searched in: method, path and query, JSON-RPC methods, status, error, host.
func hayOf(t *rowText, stage analysis.Stage, r *row) string {
	var b strings.Builder
	b.Grow(len(t.url) + 48)
	b.WriteString(t.method)
	b.WriteByte(' ')
	b.WriteString(t.url)
	b.WriteByte(' ')
	b.WriteString(string(stage))
	if t.rpc != "" {
		b.WriteByte(' ')
		b.WriteString(t.rpc)
	}
	if r.status != 0 {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(int(r.status)))
	}
	if t.err != "" {
		b.WriteByte(' ')
		b.WriteString(t.err)
	}
	if t.host != "" {
		b.WriteByte(' ')
		b.WriteString(t.host)
	}
	return strings.ToLower(strings.ReplaceAll(b.String(), "\n", " ")) // a newline ends a hay in the arena
}
