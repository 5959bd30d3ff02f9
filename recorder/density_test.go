package recorder

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

// A held exchange at the store's bound costs what the density target was met with (docs/benchmarks-store.md, "Denser
// records (branch dens18)"): the exchanges are added to a store with a capture file at a bound of 2 MiB, as `proxy`
// adds them — tools/calls of 16 sessions from as many client ports, their bodies spilled once written — and the
// store's bytes are broken down by part once it holds the last of them. With MCPWATCH_DENSITY_LINES set to a capture
// file (e.g. one `proxy` wrote under script/bench's memory group), its exchanges are replayed instead, at 16 MiB, and
// the breakdown is logged, not checked.
func TestDensityAtTheBound(t *testing.T) {
	if path := os.Getenv("MCPWATCH_DENSITY_LINES"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 1<<16)
		d := densityAtTheBound(t, 16<<20, 130000, func(int) *Exchange {
			for {
				line, err := readLine(br)
				if len(line) == 0 {
					if err != nil && err != io.EOF {
						t.Fatal(err)
					}
					return nil
				}
				if res, err := ReadCapture(bytes.NewReader(line)); err == nil && len(res.Exchanges) == 1 {
					return res.Exchanges[0]
				}
			}
		})
		t.Log(d)
		return
	}
	const bound, n = 2 << 20, 30000
	d := densityAtTheBound(t, bound, n, func(i int) *Exchange {
		ex := smallExchange(i)
		ex.RemoteAddr = fmt.Sprintf("127.0.0.1:%d", 40000+i%16)
		ex.ReqHeaders = append(Headers(nil), ex.ReqHeaders...)
		ex.RespHeaders = append(Headers(nil), ex.RespHeaders...)
		sid := fmt.Sprintf("3GXWB6LQ2ZQ4YQ%02d", i%16)
		ex.ReqHeaders[6].Value, ex.RespHeaders[2].Value = sid, sid
		return ex
	})
	t.Log(d)
	// 176 B each when this was written (80 B of record and chunk, ~58 B of parts, slack), all but the newest few
	// hundred exchanges' bodies spilled
	if d.perHeld > 200 {
		t.Errorf("a held exchange costs the store %.1f B at a bound of %d B, want at most 200", d.perHeld, bound)
	}
}

type density struct {
	added, held int
	perHeld     float64 // bytes the store counts a held exchange
	breakdown   string
}

func (d density) String() string {
	return fmt.Sprintf("%d exchanges added, %d held: %.1f B counted each; %s", d.added, d.held, d.perHeld, d.breakdown)
}

// densityAtTheBound adds the exchanges next returns (nil: no more; at most max) to a store with a capture file at
// a bound of bound bytes, waiting for the file to have written each group of 20 so that the store may spill their
// bodies, and breaks the store's bytes down by part once it holds the last of them.
func densityAtTheBound(t *testing.T, bound int64, most int, next func(i int) *Exchange) density {
	t.Helper()
	s, c, _ := openCaptureStore(t, CaptureOptions{}, StoreOptions{MaxBytes: bound}, FileBodyMin)
	n := 0
	for n < most {
		ex := next(n + 1)
		if ex == nil {
			break
		}
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
	if held == 0 {
		t.Fatalf("%d exchanges added, none held", n)
	}
	var used int64
	for _, b := range partBytes {
		used += b
	}
	used += prefix
	per := func(x int64) float64 { return float64(x) / float64(held) }
	return density{added: n, held: held, perHeld: float64(st.Bytes) / float64(max(st.Count, 1)),
		breakdown: fmt.Sprintf("per held exchange: chunks %.1f, dictionary %.1f, slabs %.1f (parts %.1f: req headers %.1f, resp headers %.1f, req body %.1f, resp body %.1f, notes %.1f, own part %.1f, lengths %.1f; slack %.1f); %d of %d with a body in memory",
			per(int64(len(s.chunks))*s.chunkBytes()), per(s.pk.dictBytes), per(s.pk.bytes), per(used),
			per(partBytes[partReqHeaders]), per(partBytes[partRespHeaders]), per(partBytes[partReqBody]), per(partBytes[partRespBody]),
			per(partBytes[partNotes]), per(partBytes[partRest]), per(prefix), per(s.pk.bytes-used), unspilled, held)}
}
