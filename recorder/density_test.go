package recorder

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"testing"
)

// TestDensityAtTheBound measures what a held exchange costs at the store's bound, part by part: the exchanges of
// a capture file (MCPWATCH_DENSITY_LINES: e.g. one `proxy` wrote under the memory group's load; skipped without
// it — a measurement, not a check) are added to a store with a capture file at a bound of 16 MiB, as `proxy`
// adds them, and the store's bytes are broken down by part once it holds the last of them. See
// docs/benchmarks-store.md, "Denser records (branch dens18)".
func TestDensityAtTheBound(t *testing.T) {
	path := os.Getenv("MCPWATCH_DENSITY_LINES")
	if path == "" {
		t.Skip("MCPWATCH_DENSITY_LINES (a capture file to replay) not set")
	}
	const bound, max = 16 << 20, 130000
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, c, _ := openCaptureStore(t, CaptureOptions{}, StoreOptions{MaxBytes: bound}, FileBodyMin)
	br := bufio.NewReaderSize(f, 1<<16)
	n := 0
	for n < max {
		line, err := readLine(br)
		if len(line) == 0 {
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		res, err := ReadCapture(bytes.NewReader(line))
		if err != nil || len(res.Exchanges) != 1 {
			continue
		}
		ex := res.Exchanges[0]
		ex.ID = 0
		s.Add(ex)
		n++
		if n%20 == 0 {
			waitWritten(t, c, uint64(n))
		}
	}
	checkAccount(t, s)
	st := s.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	var held int
	seen := map[ref]bool{}
	var partBytes [nParts]int64
	var prefix int64
	var unspilled int
	for id := s.first; id < s.nextID; id++ {
		rec := s.rec(id)
		if rec.live {
			continue
		}
		held++
		if rec.refs[partReqBody].slab >= slabIDs && rec.refs[partReqBody].slab < refSpill ||
			rec.refs[partRespBody].slab >= slabIDs && rec.refs[partRespBody].slab < refSpill {
			unspilled++
		}
		for i, r := range rec.refs {
			if r.slab < slabIDs || r.slab >= refSpill || seen[r] {
				continue
			}
			seen[r] = true
			l := s.pk.partLen(r)
			partBytes[i] += int64(l)
			prefix += int64(uvarintLen(uint64(l)))
		}
	}
	var used int64
	for _, b := range partBytes {
		used += b
	}
	used += prefix
	per := func(x int64) float64 { return float64(x) / float64(held) }
	t.Logf("%d exchanges added, %d held at a bound of %d B: %.1f B counted each (%d B)", n, st.Count, bound, float64(st.Bytes)/float64(st.Count), st.Bytes)
	t.Logf("per held exchange: chunks %.1f, dictionary %.1f, slabs %.1f (parts %.1f: req headers %.1f, resp headers %.1f, req body %.1f, resp body %.1f, notes %.1f, own part %.1f, lengths %.1f; slack %.1f); %d of %d with a body in memory",
		per(int64(len(s.chunks))*s.chunkBytes()), per(s.pk.dictBytes), per(s.pk.bytes), per(used),
		per(partBytes[partReqHeaders]), per(partBytes[partRespHeaders]), per(partBytes[partReqBody]), per(partBytes[partRespBody]),
		per(partBytes[partNotes]), per(partBytes[partRest]), per(prefix), per(s.pk.bytes-used), unspilled, held)
}
