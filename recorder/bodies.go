package recorder

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Bodies kept in the capture file. With a capture file (Store.UseCapture), a body of at least FileBodyMin bytes is
// held in memory only until its line is written: the store packs it in a slab of its own; the capture's writer
// reports where the body's JSON value landed (the file's generation, its offset and length), and the store drops
// the slab and keeps that place instead (Store.inFile). Reading the record back (Store.Get, Exchange.WithBodies)
// reads the body's JSON value back from the file (one ReadAt) and decodes it; Store.Snapshot and Store.Peek leave
// it in the file. The capture keeps a read handle on each generation of the file that exists, which follows the
// file through rotation's renames; when rotation deletes the oldest file its handle is closed, and its bodies read
// back as absent, with a note (NoteBody) saying why — their sizes are still known. With --no-capture the store
// keeps every body, bounded by --max-memory.
//
// Bodies spilled at the bound. The writer also reports where each record's whole line landed (sideLine), which the
// packed record keeps (packed.line: 8 bytes, no table). At its byte bound the store lets go of the small bodies of
// its oldest records whose lines are written (Store.spillOldest; the small bodies are in slabs of their own, so
// their slabs go once every record in them is spilled), and reading one back reads and decodes the record's line
// (readLineBodies), checked against the record's id and the bodies' lengths.

// FileBodyMin is the smallest body the store leaves in the capture file once its line is written (Store.UseCapture).
// Below it the saving is small against what reading it back costs (a read and a decode per body, and 40 bytes of
// its place kept per body), and most of a handshake's bodies are far below it (a tools/call answer of a few
// hundred bytes; see docs/benchmarks-store.md).
const FileBodyMin = 4 << 10

// NoteBody is the note on an exchange read back from the store whose body could not be read from the capture file
// (deleted by rotation, cut short, changed, or closed).
const NoteBody = "body"

// fileLocBytes is what the store counts for a body's place in the file (its entry in Store.inFile).
const fileLocBytes = 48

// fileLoc is where a body's JSON value is in the capture file: in generation gen, jsonLen bytes at off. The body's
// length is its ref's n.
type fileLoc struct {
	off     int64
	gen     uint32
	jsonLen uint32
}

// bodyLoc is what the capture's writer reports for a body it wrote.
type bodyLoc struct {
	id      uint64
	side    uint8 // 0: the request body, 1: the response body, sideLine: the whole line
	dataLen int
	loc     fileLoc
}

// sideLine is the side of a span or place that is the record's whole line (a store with a capture file may spill
// the record's bodies once it is written: Store.spillOldest).
const sideLine = 2

// bodySpan is where a body's JSON value is in the writer's buffer; segment where a run of the buffer was written.
type bodySpan struct {
	id       uint64
	side     uint8
	from, to int
	n        int
}

type segment struct {
	from, to int
	gen      uint32
	off      int64
}

var (
	errBodyDeleted   = errors.New("the capture file that held it was deleted by rotation (--capture-keep)")
	errCaptureClosed = errors.New("the capture file is closed")
	errBodyChanged   = errors.New("the capture file's line no longer holds it (the file was changed)")
)

// UseCapture has the store append every completed exchange to c and keep the bodies of at least FileBodyMin bytes
// in it once their lines are written. Call it before recording starts, at most once.
func (s *Store) UseCapture(c *CaptureFile) { s.useCapture(c, FileBodyMin) }

func (s *Store) useCapture(c *CaptureFile, min int) {
	s.mu.Lock()
	s.file, s.bodyMin = c, min
	s.mu.Unlock()
	s.OnComplete(c.Append)
	c.keepBodies(min, s.bodiesWritten)
	c.putOffWhile(s.onItsWay)
}

// bodiesWritten is the capture writer's report: the bodies of locs are in the file; each one still held in memory
// by its record is dropped from it (its slab goes with the last record referring to it). locs is the writer's: not
// kept.
func (s *Store) bodiesWritten(locs []bodyLoc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range locs {
		rec := s.rec(l.id)
		if rec == nil || rec.live {
			continue // forgotten meanwhile, or not packed
		}
		if l.side == sideLine {
			if line, ok := lineAt(l.loc.gen, l.loc.off); ok {
				rec.line = line // its bodies may be spilled at the bound (Store.spillOldest)
			}
			continue
		}
		part := partReqBody + int(l.side)
		r := rec.refs[part]
		if r.slab < slabIDs || r.slab >= refSpill || s.pk.partLen(r) != l.dataLen {
			continue
		}
		s.pk.releaseRef(r)
		rec.refs[part] = ref{slab: refFile, off: uint32(l.dataLen)}
		s.inFile[l.id<<1|uint64(l.side)] = l.loc
		s.bytes += fileLocBytes
	}
}

// forgetFileBodies drops the places of rec's bodies kept in the file (rec, of id, is evicted).
func (s *Store) forgetFileBodies(id uint64, rec *packed) {
	for side := range 2 {
		if rec.refs[partReqBody+side].slab == refFile {
			delete(s.inFile, id<<1|uint64(side))
			s.bytes -= fileLocBytes
		}
	}
}

// lazyLocked returns what reading rec's bodies back from the capture file needs, or nil when its bodies are in
// memory. Callers hold the store's lock; materialise fills in the rest.
func (s *Store) lazyLocked(id uint64, rec *packed) *lazyBodies {
	var lz *lazyBodies
	for side := range 2 {
		r := rec.refs[partReqBody+side]
		if r.slab != refFile && r.slab != refSpill {
			continue
		}
		if lz == nil {
			lz = &lazyBodies{src: s.file, pk: s.pk}
		}
		lz.inFile[side] = true
		if r.slab == refFile {
			lz.locs[side] = s.inFile[id<<1|uint64(side)]
		}
	}
	return lz
}

// lazyBodies is what a record read without its bodies kept in the capture file (Exchange.lazy) needs to read them
// back: the packed record and its parts as they were, and where the bodies are.
type lazyBodies struct {
	id     uint64
	dict   []string // the store's names when the record was read (slabTable.dict)
	rec    packed
	ps     [nParts][]byte
	pk     *packer
	src    *CaptureFile
	inFile [2]bool
	locs   [2]fileLoc
}

// BodiesInFile reports an exchange read from the store without the bodies it keeps in the capture file
// (Store.Snapshot, Store.Peek): those bodies' Data are nil (their Size is known), and so are the events' data and
// ids that were runs of them. WithBodies reads them back.
func (e *Exchange) BodiesInFile() bool { return e.lazy != nil }

// WithBodies returns e when its bodies are in memory, else a copy with the bodies kept in the capture file read
// back (a read of each from the file: call it off any path that must not wait on the disk). A body that cannot be
// read back — its file deleted by rotation, cut short or changed, the capture closed — stays absent (nil Data, its
// Size known), and a note (NoteBody) on the copy says why.
func (e *Exchange) WithBodies() *Exchange {
	lz := e.lazy
	if lz == nil {
		return e
	}
	ps := lz.ps
	var notes []Note
	var line [2][]byte // the bodies spilled at the store's bound, read from the record's line (once)
	var lineErr error
	if lz.rec.refs[partReqBody].slab == refSpill || lz.rec.refs[partRespBody].slab == refSpill {
		line, lineErr = lz.src.readLineBodies(lz.rec.line, lz.id)
	}
	for side := range 2 {
		if !lz.inFile[side] {
			continue
		}
		part := partReqBody + side
		var data []byte
		var err error
		if n := lz.rec.refs[part].fileLen(); lz.rec.refs[part].slab == refSpill {
			data, err = line[side], lineErr
			if err == nil && len(data) != int(n) {
				err = errBodyChanged
			}
		} else {
			data, err = lz.src.readBody(lz.locs[side], n)
		}
		if err != nil {
			what := "request"
			if side == 1 {
				what = "response"
			}
			notes = append(notes, Note{Key: NoteBody, Value: what + " body (" + strconv.FormatUint(uint64(lz.rec.refs[part].fileLen()), 10) +
				" bytes) not read back from the capture file: " + err.Error()})
			continue
		}
		ps[part] = data
	}
	c := materialise(lz.id, &lz.rec, &ps, lz.dict, &lz.pk.hdrs, &lz.pk.notes)
	if len(notes) > 0 {
		c.Notes = append(slices.Clip(c.Notes), notes...)
	}
	return c
}

// readLineBodies reads the bodies of the record id back from its capture line at line (packed.line): the line is
// read (bounded by maxLine) and decoded, and must be the record's.
func (c *CaptureFile) readLineBodies(line uint64, id uint64) ([2][]byte, error) {
	if c == nil {
		return [2][]byte{}, errCaptureClosed
	}
	gen, off := lineOf(line)
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	f := c.rfiles[gen]
	if f == nil {
		if c.rclosed {
			return [2][]byte{}, errCaptureClosed
		}
		return [2][]byte{}, errBodyDeleted
	}
	b, err := readLine(bufio.NewReaderSize(io.NewSectionReader(f, off, maxLine+1), 4<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return [2][]byte{}, fmt.Errorf("reading the capture file: %w", err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return [2][]byte{}, errors.New("the capture file is shorter than when it was written (cut short)")
	}
	var v struct {
		ID   uint64 `json:"id"`
		Req  Body   `json:"requestBody"`
		Resp Body   `json:"responseBody"`
	}
	if json.Unmarshal(b, &v) != nil || v.ID != id {
		return [2][]byte{}, errBodyChanged
	}
	return [2][]byte{v.Req.Data, v.Resp.Data}, nil
}

// maxBodyJSON bounds the JSON value of a body of n bytes: text escaped at most 6 bytes a byte (\u00XX), base64
// 4 bytes for 3, and the keys.
func maxBodyJSON(n uint32) int64 { return 6*int64(n) + 64 }

// keepBodies has the writer report where each body of at least min bytes lands (to f) and opens a read handle on
// the current file.
func (c *CaptureFile) keepBodies(min int, f func([]bodyLoc)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodyMin, c.onBodies = min, f
	c.openReader(c.gen)
}

// openReader opens a read handle on the current file as generation gen. Callers hold c.mu.
func (c *CaptureFile) openReader(gen uint32) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rclosed {
		return
	}
	f, err := os.Open(c.path)
	if err != nil {
		return // its bodies stay in memory: locate reports none for a generation without a handle
	}
	if c.rfiles == nil {
		c.rfiles = map[uint32]*os.File{}
	}
	if old := c.rfiles[gen]; old != nil {
		old.Close()
	}
	c.rfiles[gen] = f
}

// forget closes the read handle of the file st describes (rotation deleted it).
func (c *CaptureFile) forget(st os.FileInfo) {
	if st == nil {
		return
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for gen, f := range c.rfiles {
		if fst, err := f.Stat(); err != nil || os.SameFile(st, fst) {
			f.Close()
			delete(c.rfiles, gen)
		}
	}
}

func (c *CaptureFile) closeReaders() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for _, f := range c.rfiles {
		f.Close()
	}
	c.rfiles, c.rclosed = nil, true
}

// locate turns the spans of the writer's last group into places in the file: a body whose line was written whole
// in one piece, in a generation with a read handle. Only the writer calls it.
func (c *CaptureFile) locate() []bodyLoc {
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	out := c.locs[:0]
	defer func() {
		if cap(out) <= 4096 {
			c.locs = out[:0] // onBodies is done with it when the writer calls locate again
		}
	}()
	j := 0
	for _, sp := range c.spans {
		for j < len(c.segs) && c.segs[j].to <= sp.from {
			j++
		}
		if j == len(c.segs) {
			break
		}
		g := c.segs[j]
		if sp.from < g.from || sp.to > g.to || sp.to-sp.from > math.MaxUint32 || c.rfiles[g.gen] == nil {
			continue // not written (too big, or cut short by an error), or not readable
		}
		out = append(out, bodyLoc{id: sp.id, side: sp.side, dataLen: sp.n,
			loc: fileLoc{gen: g.gen, off: g.off + int64(sp.from-g.from), jsonLen: uint32(sp.to - sp.from)}})
	}
	return out
}

// readBody reads back a body of n bytes from where l says, bounded by what its JSON value can take.
func (c *CaptureFile) readBody(l fileLoc, n uint32) ([]byte, error) {
	if c == nil {
		return nil, errCaptureClosed
	}
	if int64(l.jsonLen) > maxBodyJSON(n) {
		return nil, errBodyChanged
	}
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	f := c.rfiles[l.gen]
	if f == nil {
		if c.rclosed {
			return nil, errCaptureClosed
		}
		return nil, errBodyDeleted
	}
	buf := make([]byte, l.jsonLen)
	if _, err := f.ReadAt(buf, l.off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the capture file is shorter than when it was written (cut short)")
		}
		return nil, fmt.Errorf("reading the capture file: %w", err)
	}
	data, ok := decodeBody(buf, n)
	if !ok || len(data) != int(n) {
		return nil, errBodyChanged
	}
	return data, nil
}

// decodeBody decodes a body's JSON value as appendBody writes it — {"text":"…",…} or {"base64":"…",…} — into a
// buffer of n bytes: the text unescaped by hand (appendBody's escapes: \" \\ \b \f \n \r \t \uXXXX outside the
// surrogates), five to ten times faster than encoding/json on text dense in escapes. What it does not expect
// (a value appendBody does not write) goes through Body.UnmarshalJSON; text must be valid UTF-8 without control
// characters, as appendBody writes it.
func decodeBody(buf []byte, n uint32) ([]byte, bool) {
	const text, b64 = `{"text":"`, `{"base64":"`
	switch {
	case bytes.HasPrefix(buf, []byte(b64)):
		rest := buf[len(b64):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 || base64.StdEncoding.DecodedLen(end) > int(n)+2 {
			return nil, false
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(end))
		k, err := base64.StdEncoding.Decode(out, rest[:end])
		return out[:k], err == nil && bodyTail(rest[end+1:])
	case bytes.HasPrefix(buf, []byte(text)):
		s := buf[len(text):]
		out := make([]byte, 0, n)
		pos, q := 0, -1 // q: the next '"' at or after pos (found again only once pos passed it: linear)
		for {
			if q < pos {
				k := bytes.IndexByte(s[pos:], '"')
				if k < 0 {
					return nil, false
				}
				q = pos + k
			}
			end := q
			if k := bytes.IndexByte(s[pos:q], '\\'); k >= 0 {
				end = pos + k
			}
			for _, c := range s[pos:end] {
				if c < 0x20 {
					return nil, false // a raw control character: not JSON
				}
			}
			out = append(out, s[pos:end]...)
			if len(out) > int(n) {
				return nil, false
			}
			if end == q {
				return out, utf8.Valid(out) && bodyTail(s[q+1:])
			}
			if end+1 >= len(s) {
				return nil, false
			}
			pos = end + 2
			switch e := s[end+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if end+6 > len(s) {
					return nil, false
				}
				r, ok := hex4(s[end+2 : end+6])
				if !ok {
					return nil, false
				}
				if utf16.IsSurrogate(r) {
					return slowBody(buf)
				}
				out = utf8.AppendRune(out, r)
				pos = end + 6
			default:
				return nil, false
			}
		}
	}
	return slowBody(buf)
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// bodyTail reports the rest of a body's JSON value after its text: the size and, maybe, the truncation.
func bodyTail(b []byte) bool {
	b, ok := bytes.CutPrefix(b, []byte(`,"size":`))
	if !ok {
		return false
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i == digits || i-digits > 18 || b[digits] == '0' && i-digits > 1 {
		return false
	}
	b = b[i:]
	return string(b) == "}" || string(b) == `,"truncated":true}`
}

func slowBody(buf []byte) ([]byte, bool) {
	var b Body
	if err := b.UnmarshalJSON(buf); err != nil {
		return nil, false
	}
	if b.Data == nil {
		b.Data = []byte{}
	}
	return b.Data, true
}
