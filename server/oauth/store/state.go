// Package store keeps the authorization server's lasting state — registered clients, grants, access and refresh
// tokens — in memory and, unless ephemeral, in a file that survives a restart. Clients cache their registration
// per host, so forgetting it breaks their next connect.
//
// Secrets never reach the file: tokens and client secrets are stored as their SHA-256 (see Hash). The file is an
// append log (log.go): each change appends one line with the entries it changed and is fsynced before Update
// returns, so a change costs the same with 100 grants or 10,000; the log is rewritten (atomically) as a snapshot
// when it grows past a multiple of the live state. A torn last line (a crash mid-write) is ignored on load. A
// state file of the earlier format (one JSON document) is read and rewritten as a log.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Version is the state file's format version: 1 was one JSON document rewritten on every change, 2 is the log.
const Version = 2

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
	// LastUsed is when the grant last issued tokens (its creation, a refresh): not updated on every use of an
	// access token, which would write the state per MCP request.
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Used is when the grant last issued tokens (LastUsed, or Created for a grant stored before LastUsed existed).
func (g *Grant) Used() time.Time {
	if g.LastUsed.After(g.Created) {
		return g.LastUsed
	}
	return g.Created
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

// State is everything the store keeps, in four tables. Mutate it only inside Store.Update, through the tables'
// Put and Delete: Get returns a copy, so a change made to it is not a change of the state until it is Put back.
// Every Put and Delete is journalled, for the rollback of a failed Update and for the log line of a good one.
type State struct {
	Clients       *Table[Client]
	Grants        *Table[Grant]
	AccessTokens  *Table[AccessToken]
	RefreshTokens *Table[RefreshToken]

	tables map[string]table
	// Indexes: the tokens of a grant ("a"+hash, "r"+hash), the grants of a client.
	grantTokens  map[string]map[string]struct{}
	clientGrants map[string]map[string]struct{}

	undo  []func()
	dirty []entryKey
	seen  map[entryKey]struct{}
}

type entryKey struct{ table, key string }

func newState() *State {
	s := &State{tables: map[string]table{}, grantTokens: map[string]map[string]struct{}{}, clientGrants: map[string]map[string]struct{}{},
		seen: map[entryKey]struct{}{}}
	s.Clients = newTable[Client](s, "clients", nil)
	s.Grants = newTable(s, "grants", func(k string, old, new *Grant) {
		if old != nil {
			removeIndex(s.clientGrants, old.ClientID, k)
		}
		if new != nil {
			addIndex(s.clientGrants, new.ClientID, k)
		}
	})
	s.AccessTokens = newTable(s, "access_tokens", func(k string, old, new *AccessToken) {
		if old != nil {
			removeIndex(s.grantTokens, old.GrantID, "a"+k)
		}
		if new != nil {
			addIndex(s.grantTokens, new.GrantID, "a"+k)
		}
	})
	s.RefreshTokens = newTable(s, "refresh_tokens", func(k string, old, new *RefreshToken) {
		if old != nil {
			removeIndex(s.grantTokens, old.GrantID, "r"+k)
		}
		if new != nil {
			addIndex(s.grantTokens, new.GrantID, "r"+k)
		}
	})
	return s
}

func addIndex(idx map[string]map[string]struct{}, k, v string) {
	m := idx[k]
	if m == nil {
		m = map[string]struct{}{}
		idx[k] = m
	}
	m[v] = struct{}{}
}

func removeIndex(idx map[string]map[string]struct{}, k, v string) {
	if m := idx[k]; m != nil {
		delete(m, v)
		if len(m) == 0 {
			delete(idx, k)
		}
	}
}

// Table is one kind of entry by key. Values are copied in and out.
type Table[V any] struct {
	name string
	m    map[string]V
	st   *State
	hook func(key string, old, new *V) // keeps the indexes
}

// table is what the store does with any table: encode an entry for the log, apply a logged one.
type table interface {
	encode(key string) (json.RawMessage, bool, error)
	apply(key string, v json.RawMessage) error // nil v: deleted
}

func newTable[V any](s *State, name string, hook func(string, *V, *V)) *Table[V] {
	t := &Table[V]{name: name, m: map[string]V{}, st: s, hook: hook}
	s.tables[name] = t
	return t
}

// Get returns a copy of the entry under key.
func (t *Table[V]) Get(key string) (V, bool) {
	v, ok := t.m[key]
	return v, ok
}

// Has reports whether key is in the table.
func (t *Table[V]) Has(key string) bool { _, ok := t.m[key]; return ok }

// Len is the number of entries.
func (t *Table[V]) Len() int { return len(t.m) }

// All iterates the entries (in no order).
func (t *Table[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for k, v := range t.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Put stores v under key.
func (t *Table[V]) Put(key string, v V) {
	t.journal(key)
	t.set(key, v)
}

// Delete removes key (nothing when absent).
func (t *Table[V]) Delete(key string) {
	if _, ok := t.m[key]; !ok {
		return
	}
	t.journal(key)
	t.del(key)
}

func (t *Table[V]) journal(key string) {
	old, had := t.m[key]
	if had {
		t.st.undo = append(t.st.undo, func() { t.set(key, old) })
	} else {
		t.st.undo = append(t.st.undo, func() { t.del(key) })
	}
	ek := entryKey{t.name, key}
	if _, ok := t.st.seen[ek]; !ok {
		t.st.seen[ek] = struct{}{}
		t.st.dirty = append(t.st.dirty, ek)
	}
}

func (t *Table[V]) set(key string, v V) {
	old, had := t.m[key]
	t.m[key] = v
	if t.hook != nil {
		var op *V
		if had {
			op = &old
		}
		t.hook(key, op, &v)
	}
}

func (t *Table[V]) del(key string) {
	old, had := t.m[key]
	if !had {
		return
	}
	delete(t.m, key)
	if t.hook != nil {
		t.hook(key, &old, nil)
	}
}

func (t *Table[V]) encode(key string) (json.RawMessage, bool, error) {
	v, ok := t.m[key]
	if !ok {
		return nil, false, nil
	}
	b, err := json.Marshal(v)
	return b, true, err
}

func (t *Table[V]) apply(key string, raw json.RawMessage) error {
	if raw == nil {
		t.del(key)
		return nil
	}
	var v V
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s entry %q: %v", t.name, key, err)
	}
	t.set(key, v)
	return nil
}

// MarshalJSON is the table as a JSON object (tests, snapshots).
func (t *Table[V]) MarshalJSON() ([]byte, error) { return json.Marshal(t.m) }

// begin starts an Update's journal.
func (s *State) begin() {
	s.undo = s.undo[:0]
	s.dirty = s.dirty[:0]
	clear(s.seen)
}

// rollback undoes the journalled changes, newest first.
func (s *State) rollback() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.begin()
}

// RevokeGrant deletes a grant and every token issued under it. It reports whether the grant existed.
func (s *State) RevokeGrant(id string) bool {
	ok := s.Grants.Has(id)
	s.Grants.Delete(id)
	for k := range s.grantTokens[id] {
		if k[0] == 'a' {
			s.AccessTokens.Delete(k[1:])
		} else {
			s.RefreshTokens.Delete(k[1:])
		}
	}
	return ok
}

// GrantsOf returns the ids of a client's grants.
func (s *State) GrantsOf(clientID string) []string {
	out := make([]string, 0, len(s.clientGrants[clientID]))
	for g := range s.clientGrants[clientID] {
		out = append(out, g)
	}
	return out
}

// TokensOf returns the hashes of a grant's access and refresh tokens.
func (s *State) TokensOf(grantID string) (access, refresh []string) {
	for k := range s.grantTokens[grantID] {
		if k[0] == 'a' {
			access = append(access, k[1:])
		} else {
			refresh = append(refresh, k[1:])
		}
	}
	return access, refresh
}

// HasGrant reports whether a client holds a grant.
func (s *State) HasGrant(clientID string) bool { return len(s.clientGrants[clientID]) > 0 }

// GrantHolders iterates the clients that hold grants, with how many.
func (s *State) GrantHolders() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for c, gs := range s.clientGrants {
			if !yield(c, len(gs)) {
				return
			}
		}
	}
}

// Prune drops expired tokens and grants that have no token left. It looks at every entry: the store calls it on
// load and then once per so many changes (amortised, see Store.Update).
func (s *State) Prune(now time.Time) {
	for h, t := range s.AccessTokens.All() {
		if !now.Before(t.Expires) {
			s.AccessTokens.Delete(h)
		}
	}
	for h, t := range s.RefreshTokens.All() {
		if !now.Before(t.Expires) {
			s.RefreshTokens.Delete(h)
		}
	}
	for id := range s.Grants.All() {
		if len(s.grantTokens[id]) == 0 {
			s.Grants.Delete(id)
		}
	}
}

// Hash is the form in which secrets are stored and looked up: hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
