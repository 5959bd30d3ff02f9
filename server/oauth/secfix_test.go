package oauth

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// At the global grant bound, a stranger minting client ID metadata documents under its own host
// (https://z.example/0 ... /N, one grant each) pushes out its own oldest grant, never the live grant of a client
// whose id sorts first (https://a.example/... here, https://chatgpt.com/... in life). The old choice by id order
// revoked the victim's.
func TestGrantEvictionByOwner(t *testing.T) {
	const limit = 40
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	st := store.Ephemeral(store.Options{Now: func() time.Time { return t0 }})
	victims := []string{"https://a.example/client.json", "https://b.example/client.json", "registered-victim"}
	put := func(s *store.State, client string, i int) {
		admitGrant(s, client, limit)
		id := fmt.Sprintf("g-%s-%d", client, i)
		s.Grants.Put(id, store.Grant{ID: id, ClientID: client, Created: t0.Add(time.Duration(i) * time.Second)})
	}
	err := st.Update(func(s *store.State) error {
		for i, v := range victims {
			put(s, v, i)
		}
		for i := range 3 * limit {
			put(s, fmt.Sprintf("https://z.example/%d", i), len(victims)+i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st.View(func(s *store.State) {
		if n := s.Grants.Len(); n > limit {
			t.Errorf("%d grants held, bound %d", n, limit)
		}
		for _, v := range victims {
			if !s.HasGrant(v) {
				t.Errorf("%s lost its grant to a flood of metadata-document clients of one host", v)
			}
		}
	})
}
