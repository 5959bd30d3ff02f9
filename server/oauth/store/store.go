// Package store keeps the authorization server's lasting state — registered clients, grants, access and refresh
// tokens — in memory and, unless ephemeral, in a JSON file that survives a restart. Clients cache their
// registration per host, so forgetting it breaks their next connect.
//
// Secrets never reach the file: tokens and client secrets are stored as their SHA-256 (see Hash). Every change is
// written atomically (a temporary file in the same directory, fsync, rename, fsync of the directory), so the file is
// either the old state or the new one, never a torn write.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Version is the state file's format version.
const Version = 1

// Client is a client registered through dynamic client registration (RFC 7591). Clients identified by a client ID
// metadata document are not stored: their document is fetched again when needed.
type Client struct {
	ID string `json:"client_id"`
	// SecretHash is Hash(client_secret) for a confidential client, "" for a public one.
	SecretHash string    `json:"secret_hash,omitempty"`
	IssuedAt   time.Time `json:"issued_at"`
	// Metadata is what was registered, with the server's defaults filled in (what the registration response echoed).
	Metadata oauthex.ClientRegistrationMetadata `json:"metadata"`
}

// Grant is one approved authorization: a client, the scopes and the resource (RFC 8707 audience) it was granted.
// Its tokens live in State.AccessTokens and State.RefreshTokens, keyed by their hash.
type Grant struct {
	ID       string    `json:"id"`
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes,omitempty"`
	Resource string    `json:"resource"`
	Created  time.Time `json:"created"`
}

// AccessToken is an issued access token (stored under its hash).
type AccessToken struct {
	GrantID string    `json:"grant"`
	Scopes  []string  `json:"scopes,omitempty"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

// Refresh token states. A refresh token is Active until used. Using it issues its successor and makes it Rotated:
// for a short grace window it may be presented again (a client that lost the response retries, or two requests
// raced), which issues a sibling successor and leaves the first one valid. When one successor is used, the token
// and every other successor become Retired; presenting a Retired token, or a Rotated one after the grace window,
// is a replay (RFC 9700 §4.14.2) and revokes the grant.
const (
	RefreshActive  = "active"
	RefreshRotated = "rotated"
	RefreshRetired = "retired"
)

// RefreshToken is an issued refresh token (stored under its hash).
type RefreshToken struct {
	GrantID string    `json:"grant"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	State   string    `json:"state"`
	// Predecessor is the hash of the refresh token whose use issued this one; Successor the hash of the token
	// this one's use issued, Successors those its uses within the grace window issued (Successor first).
	Predecessor string   `json:"predecessor,omitempty"`
	Successor   string   `json:"successor,omitempty"`
	Successors  []string `json:"successors,omitempty"`
	// RotatedAt is when the token was first used (it became Rotated).
	RotatedAt time.Time `json:"rotated_at,omitzero"`
}

// State is everything the store keeps. Mutate it only inside Store.Update.
type State struct {
	Version       int                      `json:"version"`
	Clients       map[string]*Client       `json:"clients"`
	Grants        map[string]*Grant        `json:"grants"`
	AccessTokens  map[string]*AccessToken  `json:"access_tokens"`
	RefreshTokens map[string]*RefreshToken `json:"refresh_tokens"`
}

func newState() *State {
	return &State{
		Version:       Version,
		Clients:       map[string]*Client{},
		Grants:        map[string]*Grant{},
		AccessTokens:  map[string]*AccessToken{},
		RefreshTokens: map[string]*RefreshToken{},
	}
}

// RevokeGrant deletes a grant and every token issued under it. It reports whether the grant existed.
func (s *State) RevokeGrant(id string) bool {
	_, ok := s.Grants[id]
	delete(s.Grants, id)
	for h, t := range s.AccessTokens {
		if t.GrantID == id {
			delete(s.AccessTokens, h)
		}
	}
	for h, t := range s.RefreshTokens {
		if t.GrantID == id {
			delete(s.RefreshTokens, h)
		}
	}
	return ok
}

// Prune drops expired tokens and grants that have no token left.
func (s *State) Prune(now time.Time) {
	live := map[string]bool{}
	for h, t := range s.AccessTokens {
		if !now.Before(t.Expires) {
			delete(s.AccessTokens, h)
			continue
		}
		live[t.GrantID] = true
	}
	for h, t := range s.RefreshTokens {
		if !now.Before(t.Expires) {
			delete(s.RefreshTokens, h)
			continue
		}
		live[t.GrantID] = true
	}
	for id := range s.Grants {
		if !live[id] {
			delete(s.Grants, id)
		}
	}
}

// Hash is the form in which secrets are stored and looked up: hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Store is the state behind a lock, persisted after every Update unless ephemeral.
type Store struct {
	path string // "" = memory only
	now  func() time.Time

	mu    sync.RWMutex
	state *State
	// last is the state's JSON as of the last change (or Open): the point a failed Update rolls back to, what the
	// next Update compares with, and what the file gets. It is replaced, never modified.
	last []byte
	gen  uint64 // counts the changes

	saveMu sync.Mutex // serialises file writes
	saved  uint64     // the change the file holds
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
	st := newState()
	last, _ := json.Marshal(st)
	return &Store{now: opts.Now, state: st, last: last}
}

// Open loads the state file at path, or starts empty when it does not exist yet. An unreadable or corrupt file is
// an error that says what to do; the file is left as it is.
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
		}
	}()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil // err is cleared by the return: the lock is kept
	case err != nil:
		return nil, fmt.Errorf("read oauth state %s: %w (fix its permissions, choose another file with --state, or run with --ephemeral)", path, err)
	}
	st, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("oauth state %s is unreadable: %w; move it aside to start with no registered clients, choose another file with --state, or run with --ephemeral", path, err)
	}
	st.Prune(s.now())
	if s.last, err = json.Marshal(st); err != nil {
		return nil, fmt.Errorf("oauth state %s: %w", path, err)
	}
	s.state = st
	return s, nil
}

func decode(data []byte) (*State, error) {
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not valid JSON (%v)", err)
	}
	if head.Version == nil {
		return nil, errors.New("no \"version\" field: not an mcpwatch state file")
	}
	if *head.Version != Version {
		return nil, fmt.Errorf("format version %d, this mcpwatch reads version %d", *head.Version, Version)
	}
	st := newState()
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("not valid JSON (%v)", err)
	}
	// A file edited by hand may have null maps or entries.
	if st.Clients == nil {
		st.Clients = map[string]*Client{}
	}
	if st.Grants == nil {
		st.Grants = map[string]*Grant{}
	}
	if st.AccessTokens == nil {
		st.AccessTokens = map[string]*AccessToken{}
	}
	if st.RefreshTokens == nil {
		st.RefreshTokens = map[string]*RefreshToken{}
	}
	for k, v := range st.Clients {
		if v == nil || v.ID != k {
			return nil, fmt.Errorf("client entry %q is empty or names another client id", k)
		}
	}
	for k, v := range st.Grants {
		if v == nil || v.ID != k {
			return nil, fmt.Errorf("grant entry %q is empty or names another grant", k)
		}
	}
	for k, v := range st.AccessTokens {
		if v == nil {
			return nil, fmt.Errorf("access token entry %q is empty", k)
		}
	}
	for k, v := range st.RefreshTokens {
		if v == nil {
			return nil, fmt.Errorf("refresh token entry %q is empty", k)
		}
	}
	return st, nil
}

// Close releases the state file's lock after any write in progress. Changes made afterwards stay in memory: an
// Update returns an error saying they were not written. Close is idempotent.
func (s *Store) Close() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.closed = true
	err := s.lock.release()
	s.lock = nil
	return err
}

// Path is the state file, or "" for an ephemeral store.
func (s *Store) Path() string { return s.path }

// View calls f with the state under a read lock. f must not keep references past its return.
func (s *Store) View(f func(*State)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(s.state)
}

// Update calls f with the state under the write lock. When f returns nil and changed the state, the state is
// persisted before Update returns; when f returns an error, the state is restored to what it was and the error
// returned. A failed write is returned too (the change stays in memory and reaches the file with the next write).
//
// The state is encoded once per Update (the previous encoding is the rollback point), and concurrent Updates share
// file writes: each waits for a write that started after its change, so one write can carry many changes.
func (s *Store) Update(f func(*State) error) error {
	s.mu.Lock()
	before := s.last
	if ferr := f(s.state); ferr != nil {
		restored := newState()
		if err := json.Unmarshal(before, restored); err == nil {
			s.state = restored
		}
		s.mu.Unlock()
		return ferr
	}
	s.state.Prune(s.now())
	after, err := json.Marshal(s.state)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("oauth state: %w", err)
	}
	changed := !bytes.Equal(before, after)
	if changed {
		s.last = after
		s.gen++
	}
	gen := s.gen
	s.mu.Unlock()
	if s.path == "" || !changed {
		return nil
	}
	return s.save(gen)
}

// save makes the file hold change gen or a later one. Writes are serialised; each writes the state as it is when
// its turn comes, so a slow write never overwrites a newer state with an older one, and a change that a write
// already carried needs no write of its own.
func (s *Store) save(gen uint64) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.saved >= gen {
		return nil
	}
	if s.closed {
		return fmt.Errorf("oauth state %s: closed, the change was not written", s.path)
	}
	s.mu.RLock()
	data, latest := s.last, s.gen
	s.mu.RUnlock()
	var buf bytes.Buffer
	buf.Grow(len(data) + len(data)/4)
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return fmt.Errorf("oauth state: %w", err)
	}
	buf.WriteByte('\n')
	if err := WriteFileAtomic(s.path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	s.saved = latest
	return nil
}

// WriteFileAtomic writes data to path so that path holds either its old content or data, never a mix: a temporary
// file in the same directory is written, synced and renamed over path, then the directory is synced.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: some filesystems refuse to sync a directory
		d.Close()
	}
	return nil
}
