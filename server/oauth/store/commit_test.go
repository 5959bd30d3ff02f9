package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
			if err := s.Update(func(st *State) error { st.Clients[id] = &Client{ID: id}; return nil }); err != nil {
				t.Error(err)
				return
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			st, err := decode(data)
			if err != nil || st.Clients[id] == nil {
				t.Errorf("client %s is not in the file after its Update returned (%v)", id, err)
			}
		})
	}
	wg.Wait()
}

// The file is the state as json.MarshalIndent writes it, and an Update that changes nothing writes nothing.
func TestFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s.Update(func(st *State) error {
		st.Clients["c<1>"] = &Client{ID: "c<1>", IssuedAt: now}
		st.Grants["g"] = &Grant{ID: "g", ClientID: "c<1>", Scopes: []string{"mcp"}, Resource: "https://h/mcp", Created: now}
		st.RefreshTokens[Hash("rt")] = &RefreshToken{GrantID: "g", Issued: now, Expires: now.Add(time.Hour), State: RefreshActive}
		return nil
	})
	var want []byte
	s.View(func(st *State) { want, _ = json.MarshalIndent(st, "", "  ") })
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, append(want, '\n')) {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	st0, _ := os.Stat(path)
	time.Sleep(10 * time.Millisecond)
	if err := s.Update(func(st *State) error { st.Clients["c<1>"].IssuedAt = now; return nil }); err != nil {
		t.Fatal(err)
	}
	if st1, _ := os.Stat(path); !st1.ModTime().Equal(st0.ModTime()) {
		t.Error("an Update that changed nothing rewrote the file")
	}
}

// A rollback after earlier changes restores the latest committed state, not an older one.
func TestRollbackAfterChanges(t *testing.T) {
	s := Ephemeral(Options{})
	for _, id := range []string{"a", "b", "c"} {
		s.Update(func(st *State) error { st.Clients[id] = &Client{ID: id}; return nil })
	}
	boom := errors.New("boom")
	if err := s.Update(func(st *State) error { clear(st.Clients); return boom }); err != boom {
		t.Fatal(err)
	}
	s.View(func(st *State) {
		if len(st.Clients) != 3 {
			t.Errorf("after rollback: %d clients, want 3", len(st.Clients))
		}
	})
	s.Update(func(st *State) error { delete(st.Clients, "a"); return nil })
	s.Update(func(st *State) error { st.Clients["x"] = nil; return boom })
	s.View(func(st *State) {
		if len(st.Clients) != 2 || st.Clients["a"] != nil {
			t.Errorf("after the second rollback: %v", st.Clients)
		}
	})
}

// What one Update costs with n clients holding a grant and tokens each (a registration, say), in memory.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := Ephemeral(Options{})
			now := time.Now()
			s.Update(func(st *State) error {
				for i := range n {
					id := fmt.Sprintf("mcpw_c_%022d", i)
					st.Clients[id] = &Client{ID: id, IssuedAt: now}
					g := fmt.Sprintf("g_%022d", i)
					st.Grants[g] = &Grant{ID: g, ClientID: id, Scopes: []string{"mcp"}, Resource: "http://127.0.0.1:4000/mcp", Created: now}
					st.AccessTokens[Hash("a"+g)] = &AccessToken{GrantID: g, Issued: now, Expires: now.Add(time.Hour)}
					st.RefreshTokens[Hash("r"+g)] = &RefreshToken{GrantID: g, Issued: now, Expires: now.Add(time.Hour), State: RefreshActive}
				}
				return nil
			})
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				s.Update(func(st *State) error { // a change, the state's size unchanged
					st.AccessTokens["x"] = &AccessToken{GrantID: "g", Issued: now, Expires: now.Add(time.Duration(i) + time.Hour)}
					return nil
				})
			}
		})
	}
}
