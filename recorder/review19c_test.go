package recorder

import (
	"strings"
	"testing"
)

// TestDeepMembersAllocateOnce (review19c): a stranger's body whose members are each more than 128 levels deep —
// an object's members, or a batch's elements past the bound on messages — is checked with the level words past
// 128 levels allocated once a body, not once a member: a 1 MiB body of 4,049 such members made the recorder
// allocate 5.2–6.2 MB (one 1,264-byte set of words a member) where reading it in two passes allocated 1.7 KB.
func TestDeepMembersAllocateOnce(t *testing.T) {
	deep := strings.Repeat("[", 129) + strings.Repeat("]", 129)
	const members = 500
	obj := `{"jsonrpc":"2.0","method":"a"` + strings.Repeat(`,"k":`+deep, members) + `}`
	batch := `[{"jsonrpc":"2.0","method":"a"}` + strings.Repeat(","+deep, members) + `]`
	for _, c := range []struct {
		name     string
		body     []byte
		most     int
		messages int
		skipped  int
	}{{"object", []byte(obj), -1, 1, 0}, {"batch past the bound", []byte(batch), 1, 1, members}} {
		rpc, skipped := appendRPC(nil, 0, c.most, c.body, FromClient, -1)
		if len(rpc) != c.messages || skipped != c.skipped {
			t.Fatalf("%s: %d messages, %d skipped; want %d, %d", c.name, len(rpc), skipped, c.messages, c.skipped)
		}
		allocs := testing.AllocsPerRun(5, func() { appendRPC(nil, 0, c.most, c.body, FromClient, -1) })
		if allocs > 5 {
			t.Errorf("%s of %d members more than 128 levels deep: %.0f allocations a read, want a few (not one a member)", c.name, members, allocs)
		}
	}
}
