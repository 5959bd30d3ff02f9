package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/atomicfile"
)

// The log (Version 2): a header line, then one line per change — the entries the change put or deleted:
//
//	{"version":2,"format":"mcpwatch oauth state log"}
//	{"ops":[{"t":"clients","k":"mcpw_c_…","v":{…}},{"t":"grants","k":"g_…","d":true}]}
//
// A change is one line, so it is applied whole or not at all: a last line that is torn (no newline, or not JSON)
// was never acknowledged and is ignored (and cut off) on load; a bad line before the last is a corrupt file.
const (
	logFormat = "mcpwatch oauth state log"
	// compactFactor: the log is rewritten as a snapshot once it is this many times the live state's size (and at
	// least compactMin bytes), so that the file stays within a constant factor of the state and the cost of the
	// rewrite, spread over the changes that grew the log, stays constant per change.
	compactFactor = 4
	compactMin    = 256 << 10
)

type logHeader struct {
	Version *int   `json:"version"`
	Format  string `json:"format,omitempty"`
}

type logLine struct {
	Ops []logOp `json:"ops"`
}

type logOp struct {
	T string          `json:"t"`
	K string          `json:"k"`
	V json.RawMessage `json:"v,omitempty"`
	D bool            `json:"d,omitempty"`
}

// Store is the state behind a lock, persisted after every Update unless ephemeral.
type Store struct {
	path string // "" = memory only
	now  func() time.Time

	mu    sync.RWMutex
	state *State
	gen   uint64 // counts the changes
	// pending holds the log lines of changes not yet written (guarded by mu); sizes the encoded size of each live
	// entry and live their sum (guarded by mu), for compaction.
	pending []byte
	sizes   map[entryKey]int
	live    int64
	// sincePrune counts changes since the last full prune.
	sincePrune int

	saveMu sync.Mutex // serialises file writes
	saved  uint64     // the change the file holds
	file   *os.File   // the log, opened for appending (nil until the first write)
	size   int64      // the log's length
	lock   *lockFile  // held from Open to Close; nil when ephemeral or closed
	closed bool       // Close was called: no more writes (guarded by saveMu)
}

// Options configure Open.
type Options struct {
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Ephemeral returns a store that keeps everything in memory.
func Ephemeral(opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{now: opts.Now, state: newState(), sizes: map[entryKey]int{}}
}

// Open loads the state file at path, or starts empty when it does not exist yet. An unreadable or corrupt file is
// an error that says what to do; the file is left as it is. A file of the earlier format (Version 1) is read and
// rewritten as a log.
//
// The store holds an exclusive lock on the state (a lock file beside it, "PATH.lock") until Close or the process
// ends: a second Open of the same path, in this process or another, fails with a message that names the path and
// the ways out (--state, --ephemeral), instead of the two overwriting each other's registrations.
func Open(path string, opts Options) (_ *Store, err error) {
	if path == "" {
		return nil, errors.New("oauth state: no path (use Ephemeral for a memory-only store)")
	}
	s := Ephemeral(opts)
	s.path = path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("oauth state directory: %w", err)
	}
	if s.lock, err = acquireLock(path); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.lock.release()
			if s.file != nil {
				s.file.Close()
			}
		}
	}()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil // err is cleared by the return: the lock is kept
	case err != nil:
		return nil, fmt.Errorf("read oauth state %s: %w (fix its permissions, choose another file with --state, or run with --ephemeral)", path, err)
	}
	version, good, err := s.load(data)
	if err != nil {
		return nil, fmt.Errorf("oauth state %s is unreadable: %w; move it aside to start with no registered clients, choose another file with --state, or run with --ephemeral", path, err)
	}
	s.state.begin()
	s.state.Prune(s.now())
	pruned := len(s.state.dirty) > 0
	s.state.begin()
	if version != Version || pruned || good == 0 {
		// Migrate (or drop what expired while the server was down): the file becomes a snapshot of the state.
		if err := s.compactLocked(); err != nil {
			return nil, err
		}
		return s, nil
	}
	if good < int64(len(data)) { // a torn last line: cut off, so that appends start on a line of their own
		if err := os.Truncate(path, good); err != nil {
			return nil, fmt.Errorf("oauth state %s: cutting off a torn last line: %w", path, err)
		}
	}
	if s.file, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("oauth state %s: %w", path, err)
	}
	s.file.Chmod(0o600)
	s.size = good
	return s, nil
}

// load reads a state file of either format into s.state. good is the length of the file up to the end of its last
// whole line (the rest, a torn line, is ignored).
func (s *Store) load(data []byte) (version int, good int64, err error) {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	var head logHeader
	if err := json.Unmarshal(first, &head); err != nil || head.Format != logFormat {
		// Version 1: one JSON document.
		if err := decodeV1(data, s.state); err != nil {
			return 0, 0, err
		}
		return 1, int64(len(data)), nil
	}
	if head.Version == nil || *head.Version != Version {
		return 0, 0, fmt.Errorf("format version %v, this mcpwatch reads version %d", head.Version, Version)
	}
	lines := bytes.Split(data, []byte("\n"))
	// lines[len-1] is what follows the last newline: empty, or a line whose write never finished (ignored).
	whole := lines[:len(lines)-1]
	if len(whole) == 0 {
		return Version, 0, nil // not even the header is whole: rewritten on open
	}
	good = int64(len(first) + 1)
	for n := 1; n < len(whole); n++ {
		var l logLine
		if err := json.Unmarshal(whole[n], &l); err != nil {
			if n == len(whole)-1 && len(lines[len(lines)-1]) == 0 {
				break // the last line, torn (a crash left it unfinished): ignored
			}
			return 0, 0, fmt.Errorf("line %d is not a log entry (%v)", n+1, err)
		}
		for _, op := range l.Ops {
			t := s.state.tables[op.T]
			if t == nil {
				return 0, 0, fmt.Errorf("line %d: no table %q", n+1, op.T)
			}
			v := op.V
			if op.D {
				v = nil
			} else if v == nil {
				return 0, 0, fmt.Errorf("line %d: an entry with no value", n+1)
			}
			if err := t.apply(op.K, v); err != nil {
				return 0, 0, fmt.Errorf("line %d: %v", n+1, err)
			}
			s.account(entryKey{op.T, op.K}, len(v))
		}
		good += int64(len(whole[n]) + 1)
	}
	return Version, good, nil
}

// account records the size a live entry takes in a snapshot (its value, key and framing; a deleted entry,
// valueLen 0, takes none), for the live size that decides compaction.
func (s *Store) account(k entryKey, valueLen int) {
	n := 0
	if valueLen > 0 {
		n = valueLen + len(k.table) + len(k.key) + 20
	}
	s.live += int64(n - s.sizes[k])
	if n == 0 {
		delete(s.sizes, k)
	} else {
		s.sizes[k] = n
	}
}

// decodeV1 reads the earlier format: the whole state as one JSON document.
func decodeV1(data []byte, st *State) error {
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("not valid JSON (%v)", err)
	}
	if head.Version == nil {
		return errors.New("no \"version\" field: not an mcpwatch state file")
	}
	if *head.Version != 1 {
		return fmt.Errorf("format version %d, this mcpwatch reads version %d", *head.Version, Version)
	}
	var v1 struct {
		Clients       map[string]*Client       `json:"clients"`
		Grants        map[string]*Grant        `json:"grants"`
		AccessTokens  map[string]*AccessToken  `json:"access_tokens"`
		RefreshTokens map[string]*RefreshToken `json:"refresh_tokens"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return fmt.Errorf("not valid JSON (%v)", err)
	}
	for k, v := range v1.Clients {
		if v == nil || v.ID != k {
			return fmt.Errorf("client entry %q is empty or names another client id", k)
		}
		st.Clients.set(k, *v)
	}
	for k, v := range v1.Grants {
		if v == nil || v.ID != k {
			return fmt.Errorf("grant entry %q is empty or names another grant", k)
		}
		st.Grants.set(k, *v)
	}
	for k, v := range v1.AccessTokens {
		if v == nil {
			return fmt.Errorf("access token entry %q is empty", k)
		}
		st.AccessTokens.set(k, *v)
	}
	for k, v := range v1.RefreshTokens {
		if v == nil {
			return fmt.Errorf("refresh token entry %q is empty", k)
		}
		st.RefreshTokens.set(k, *v)
	}
	return nil
}

// Close releases the state file's lock after any write in progress. Changes made afterwards stay in memory: an
// Update returns an error saying they were not written. Close is idempotent.
func (s *Store) Close() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.closed = true
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	err := s.lock.release()
	s.lock = nil
	return err
}

// Path is the state file, or "" for an ephemeral store.
func (s *Store) Path() string { return s.path }

// View calls f with the state under a read lock. f must not keep references past its return, nor change it.
func (s *Store) View(f func(*State)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(s.state)
}

// Update calls f with the state under the write lock. When f returns nil and changed the state, the change is
// persisted before Update returns; when f returns an error, the changes f made are undone and the error returned.
// A failed write is returned too (the change stays in memory and reaches the file with the next write).
//
// An Update costs what it changed, not the size of the state: the changed entries are encoded as one log line;
// concurrent Updates share fsyncs (each waits for a write that carried its line). Expired entries are pruned once
// per so many changes (as many as there are entries), an amortised constant per change.
func (s *Store) Update(f func(*State) error) error {
	s.mu.Lock()
	st := s.state
	st.begin()
	if ferr := f(st); ferr != nil {
		st.rollback()
		s.mu.Unlock()
		return ferr
	}
	s.sincePrune++
	if s.sincePrune >= max(256, len(s.sizes)) {
		s.sincePrune = 0
		st.Prune(s.now())
	}
	if len(st.dirty) == 0 {
		s.mu.Unlock()
		return nil
	}
	line := logLine{Ops: make([]logOp, 0, len(st.dirty))}
	for _, k := range st.dirty {
		v, ok, err := st.tables[k.table].encode(k.key)
		if err != nil {
			st.rollback()
			s.mu.Unlock()
			return fmt.Errorf("oauth state: %w", err)
		}
		if ok {
			line.Ops = append(line.Ops, logOp{T: k.table, K: k.key, V: v})
		} else {
			line.Ops = append(line.Ops, logOp{T: k.table, K: k.key, D: true})
		}
		s.account(k, len(v))
	}
	st.begin()
	s.gen++
	gen := s.gen
	if s.path != "" {
		b, _ := json.Marshal(line)
		s.pending = append(append(s.pending, b...), '\n')
	}
	s.mu.Unlock()
	if s.path == "" {
		return nil
	}
	return s.save(gen)
}

// save makes the file hold change gen or a later one: the pending lines are appended and fsynced. Writes are
// serialised and take every line pending when their turn comes, so a change that an earlier write carried needs
// no write of its own. A failed write cuts the file back to where it was and keeps the lines for the next one.
func (s *Store) save(gen uint64) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.saved >= gen {
		return nil
	}
	if s.closed {
		return fmt.Errorf("oauth state %s: closed, the change was not written", s.path)
	}
	s.mu.Lock()
	data, latest := s.pending, s.gen
	s.pending = nil
	s.mu.Unlock()
	if err := s.appendLocked(data); err != nil {
		s.mu.Lock()
		s.pending = append(data, s.pending...)
		s.mu.Unlock()
		return err
	}
	s.saved = latest
	s.mu.RLock()
	compact := s.size > compactMin && s.size > compactFactor*s.live
	s.mu.RUnlock()
	if compact {
		s.mu.Lock()
		err := s.compactLocked()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// appendLocked appends data to the log and syncs it (saveMu held).
func (s *Store) appendLocked(data []byte) error {
	if s.file == nil {
		// No log yet: the first one is a snapshot (header and the whole state).
		s.mu.Lock()
		err := s.compactLocked()
		s.mu.Unlock()
		return err
	}
	if _, err := s.file.Write(data); err != nil {
		s.file.Truncate(s.size) // best effort: no partial line stays before the next write
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	s.size += int64(len(data))
	return nil
}

// compactLocked rewrites the log as a snapshot of the state — a header and one line with every entry — atomically,
// and reopens it for appending. Called with saveMu (or during Open) and mu held; the pending lines are in the
// snapshot, so they are dropped.
func (s *Store) compactLocked() error {
	var buf bytes.Buffer
	v := Version
	head, _ := json.Marshal(logHeader{Version: &v, Format: logFormat})
	buf.Write(head)
	buf.WriteByte('\n')
	var line logLine
	line.Ops = appendOps(line.Ops, "clients", s.state.Clients)
	line.Ops = appendOps(line.Ops, "grants", s.state.Grants)
	line.Ops = appendOps(line.Ops, "access_tokens", s.state.AccessTokens)
	line.Ops = appendOps(line.Ops, "refresh_tokens", s.state.RefreshTokens)
	if len(line.Ops) > 0 {
		b, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("oauth state: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(s.path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("oauth state %s: %w", s.path, err)
	}
	s.file, s.size, s.pending = f, int64(buf.Len()), nil
	s.saved = s.gen
	clear(s.sizes)
	s.live = 0
	for _, op := range line.Ops {
		s.account(entryKey{op.T, op.K}, len(op.V))
	}
	return nil
}

func appendOps[V any](ops []logOp, name string, t *Table[V]) []logOp {
	for k, v := range t.m {
		b, _ := json.Marshal(v)
		ops = append(ops, logOp{T: name, K: k, V: b})
	}
	return ops
}
