package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every Update that returns has its change in the file, even when its write was shared with other Updates: each
// goroutine reads the file right after its Update and finds its own client there.
func TestSharedWritesAreDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			id := fmt.Sprintf("c%d", i)
			if err := s.Update(func(st *State) error { st.Clients.Put(id, Client{ID: id}); return nil }); err != nil {
				t.Error(err)
				return
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			st, err := decodeFile(data)
			if err != nil || !st.Clients.Has(id) {
				t.Errorf("client %s is not in the file after its Update returned (%v)", id, err)
			}
		})
	}
	wg.Wait()
}

// The file is a log: a header, then one line per change (the first change writes a snapshot); an Update that
// changes nothing writes nothing; the file's mode is 0600.
func TestFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s.Update(func(st *State) error {
		st.Clients.Put("c<1>", Client{ID: "c<1>", IssuedAt: now})
		return nil
	})
	s.Update(func(st *State) error {
		st.Grants.Put("g", Grant{ID: "g", ClientID: "c<1>", Scopes: []string{"mcp"}, Resource: "https://h/mcp", Created: now})
		st.RefreshTokens.Put(Hash("rt"), RefreshToken{GrantID: "g", Issued: now, Expires: now.Add(time.Hour), State: RefreshActive})
		return nil
	})
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"version":2`) || !strings.Contains(lines[1], `"t":"clients","k":"c\u003c1\u003e"`) ||
		!strings.Contains(lines[2], `"t":"grants"`) || !strings.Contains(lines[2], `"t":"refresh_tokens"`) {
		t.Fatalf("file:\n%s", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if err := s.Update(func(st *State) error {
		c, _ := st.Clients.Get("c<1>")
		c.IssuedAt = now // the same value: no change
		_ = c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, got) {
		t.Error("an Update that changed nothing wrote to the file")
	}
}

// A crash mid-write leaves a torn last line: it is ignored on load (the change was never acknowledged), cut off,
// and the next change is appended after the last whole line. A bad line that is not the last is a corrupt file.
func TestTornLastRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		s.Update(func(st *State) error { st.Clients.Put(id, Client{ID: id}); return nil })
	}
	s.Close()
	whole, _ := os.ReadFile(path)
	for name, tail := range map[string]string{
		"no newline":           `{"ops":[{"t":"clients","k":"c","v":{"client_id":"c"`,
		"garbage with newline": "\x00\x00\x00\n",
		"half a line":          `{"ops":[{"t":"clie`,
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(path, append(slices.Clone(whole), tail...), 0o600)
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.View(func(st *State) {
				if st.Clients.Len() != 2 || !st.Clients.Has("a") || !st.Clients.Has("b") {
					t.Errorf("clients after a torn tail: %d", st.Clients.Len())
				}
			})
			if err := s.Update(func(st *State) error { st.Clients.Put("d", Client{ID: "d"}); return nil }); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s2, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("after appending past a torn tail: %v", err)
			}
			s2.View(func(st *State) {
				if st.Clients.Len() != 3 || !st.Clients.Has("d") {
					t.Errorf("clients: %d", st.Clients.Len())
				}
			})
			s2.Close()
		})
	}
	t.Run("a bad line in the middle", func(t *testing.T) {
		lines := bytes.SplitAfter(whole, []byte("\n"))
		bad := append(append(slices.Clone(lines[0]), "not json\n"...), bytes.Join(lines[1:], nil)...)
		os.WriteFile(path, bad, 0o600)
		if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("err %v", err)
		}
	})
}

// A state file of the earlier format (one JSON document) is read and rewritten as a log, keeping everything.
func TestMigrateVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	v1 := `{
  "version": 1,
  "clients": {"c1": {"client_id": "c1", "issued_at": "2026-09-01T00:00:00Z", "metadata": {"redirect_uris": ["https://x/cb"]}}},
  "grants": {"g1": {"id": "g1", "client_id": "c1", "resource": "https://h/mcp", "created": "2026-09-01T00:00:00Z"}},
  "access_tokens": {"` + Hash("at") + `": {"grant": "g1", "issued": "2026-09-01T00:00:00Z", "expires": "` + exp + `"}},
  "refresh_tokens": {"` + Hash("rt") + `": {"grant": "g1", "issued": "2026-09-01T00:00:00Z", "expires": "` + exp + `", "state": "active"}}
}
`
	os.WriteFile(path, []byte(v1), 0o644)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		s.View(func(st *State) {
			if !st.Clients.Has("c1") || !st.Grants.Has("g1") || !st.AccessTokens.Has(Hash("at")) || !st.RefreshTokens.Has(Hash("rt")) {
				t.Errorf("lost in migration")
			}
			if gs := st.GrantsOf("c1"); len(gs) != 1 {
				t.Errorf("grants of c1: %v", gs)
			}
		})
	}
	check(s)
	s.Close()
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte(`{"version":2,`)) {
		t.Errorf("not rewritten as a log:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after migration", fi.Mode().Perm())
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(s2)
	s2.Close()
}

// The log is compacted: after many changes to the same few entries the file stays within a small multiple of
// the state (plus the compaction threshold).
func TestLogCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 3000 {
		s.Update(func(st *State) error {
			st.AccessTokens.Put(Hash(fmt.Sprint(i%10)), AccessToken{GrantID: "g", Issued: now, Expires: now.Add(time.Hour + time.Duration(i))})
			return nil
		})
	}
	fi, _ := os.Stat(path)
	if fi.Size() > compactMin+4096 {
		t.Errorf("log of %d bytes for 10 entries after 3000 changes", fi.Size())
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2.View(func(st *State) {
		if st.AccessTokens.Len() != 10 {
			t.Errorf("%d tokens", st.AccessTokens.Len())
		}
	})
	s2.Close()
}

// A rollback after earlier changes restores the latest committed state, not an older one.
func TestRollbackAfterChanges(t *testing.T) {
	s := Ephemeral(Options{})
	for _, id := range []string{"a", "b", "c"} {
		s.Update(func(st *State) error { st.Clients.Put(id, Client{ID: id}); return nil })
	}
	boom := errors.New("boom")
	if err := s.Update(func(st *State) error {
		for k := range st.Clients.All() {
			st.Clients.Delete(k)
		}
		return boom
	}); err != boom {
		t.Fatal(err)
	}
	s.View(func(st *State) {
		if st.Clients.Len() != 3 {
			t.Errorf("after rollback: %d clients, want 3", st.Clients.Len())
		}
	})
	s.Update(func(st *State) error { st.Clients.Delete("a"); return nil })
	s.Update(func(st *State) error { st.Clients.Put("x", Client{}); return boom })
	s.View(func(st *State) {
		if st.Clients.Len() != 2 || st.Clients.Has("a") {
			t.Errorf("after the second rollback: %v", st.Clients)
		}
	})
}

// decodeFile reads a state file's content as Open would.
func decodeFile(data []byte) (*State, error) {
	s := Ephemeral(Options{})
	if _, _, err := s.load(data); err != nil {
		return nil, err
	}
	return s.state, nil
}

// What one Update (a token issued, as a refresh does) costs with n clients holding a grant and tokens each, with
// the state file written and fsynced: flat from 100 to 10,000 grants, as each change appends one line.
func BenchmarkUpdate(b *testing.B) {
	for _, file := range []bool{false, true} {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("file=%v/grants=%d", file, n), func(b *testing.B) {
				s := Ephemeral(Options{})
				if file {
					var err error
					if s, err = Open(filepath.Join(b.TempDir(), "state.json"), Options{}); err != nil {
						b.Fatal(err)
					}
					defer s.Close()
				}
				now := time.Now()
				s.Update(func(st *State) error {
					for i := range n {
						id := fmt.Sprintf("mcpw_c_%022d", i)
						st.Clients.Put(id, Client{ID: id, IssuedAt: now})
						g := fmt.Sprintf("g_%022d", i)
						st.Grants.Put(g, Grant{ID: g, ClientID: id, Scopes: []string{"mcp"}, Resource: "http://127.0.0.1:4000/mcp", Created: now})
						st.AccessTokens.Put(Hash("a"+g), AccessToken{GrantID: g, Issued: now, Expires: now.Add(time.Hour)})
						st.RefreshTokens.Put(Hash("r"+g), RefreshToken{GrantID: g, Issued: now, Expires: now.Add(time.Hour), State: RefreshActive})
					}
					return nil
				})
				i := 0
				b.ReportAllocs()
				for b.Loop() {
					i++
					s.Update(func(st *State) error { // a change, the state's size unchanged
						st.AccessTokens.Put("x", AccessToken{GrantID: "g_0000000000000000000000", Issued: now, Expires: now.Add(time.Duration(i) + time.Hour)})
						return nil
					})
				}
			})
		}
	}
}
