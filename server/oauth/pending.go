package oauth

import (
	"container/list"
	"time"
)

// The budget of what an authorization request can make the server hold in memory (docs/budget-oauth.md). A
// pending consent or an authorization code keeps the request's echoed parameters until it is answered, redeemed
// or expires; both are bounded by count in all, by count per owner and by bytes in all, and at a bound an oldest
// entry goes (the owner's own when its bound is reached, else that of the owner holding the most entries), so that
// a stranger flooding GET /authorize, even spread over many registered clients, pushes out its own requests first.
// The owner is grantOwner(client id): the host of a metadata-document client, the id of a registered one.
const (
	// maxStateBytes bounds the state parameter. Real clients send 22 to 64 characters (16–32 random bytes in
	// base64url or hex; VS Code a few hundred of standard Base64); 4 KiB is ample for a state that carries a
	// signed blob, and an authorization request with a longer one is refused with invalid_request.
	maxStateBytes = 4 << 10
	// maxScopeBytes bounds the scope parameter (authorize and token requests). Real clients ask for a few scopes
	// ("mcp", "claudeai", "openid profile email offline_access"); the scopes granted are kept with the grant and
	// each of its tokens, so 1 KiB bounds what 10,000 grants can hold.
	maxScopeBytes = 1 << 10
	// maxAuthorizeQueryBytes bounds the whole query of an authorization request (every echoed parameter:
	// client_id, redirect_uri, resource, state, scope, ...); a longer one is refused on an error page.
	maxAuthorizeQueryBytes = 16 << 10

	maxConsents          = 1000 // pending consents in all
	maxConsentsPerClient = 20   // pending consents of one client id
	maxConsentBytes      = 4 << 20
	maxCodes             = 10000 // codes issued and not yet forgotten (used codes are remembered to catch a replay)
	maxCodesPerClient    = 100
	maxCodeBytes         = 8 << 20

	// maxBrowserCookie bounds the consent page's browser cookie taken from a request (ours are 43 characters).
	maxBrowserCookie = 64

	// entryOverhead is what an entry costs beyond its strings: the structs, the map slot, the list element.
	entryOverhead = 512
)

// requestBytes is what an authorization request kept in memory costs, counted from its strings.
func (r *authRequest) bytes() int64 {
	n := len(r.RedirectURI) + len(r.State) + len(r.Resource) + len(r.Challenge) + len(r.Issuer)
	for _, s := range r.Scopes {
		n += len(s) + 16
	}
	if r.Client != nil {
		n += len(r.Client.ID) + len(r.Client.SecretHash) + len(r.Client.Metadata.ClientName)
		// A metadata document fetched afresh (no-store) brings its own redirect URIs: counted, as they may be
		// the request's alone.
		for _, u := range r.Client.Metadata.RedirectURIs {
			n += len(u) + 16
		}
	}
	return int64(n + entryOverhead)
}

// slimClient is the part of a client a pending request needs later (who it is, what the consent page names and
// warns about): the rest of a client ID metadata document (up to 64 KiB) is not kept per request.
func slimClient(c *client) *client {
	s := &client{ID: c.ID, SecretHash: c.SecretHash, CIMD: c.CIMD}
	s.Metadata.ClientName = c.Metadata.ClientName
	s.Metadata.GrantTypes = c.Metadata.GrantTypes
	s.Metadata.TokenEndpointAuthMethod = c.Metadata.TokenEndpointAuthMethod
	s.Metadata.RedirectURIs = c.Metadata.RedirectURIs
	return s
}

// bounded is a map whose entries are kept in insertion order and bounded by count in all, count per owner and
// bytes in all; adding past a bound drops an oldest entry: the owner's own when the owner's bound is the one
// reached, else that of the owner holding the most entries. Expired entries are dropped from the front. Every operation is O(1) amortised. Not safe for
// concurrent use (AS.mu guards it).
type bounded[V any] struct {
	maxCount, maxPerOwner int
	maxBytes              int64

	byKey   map[string]*list.Element
	order   *list.List // of *boundedEntry[V], oldest first
	byOwner map[string]*list.List
	// withCount holds the owners by how many entries they hold; most is the largest such count. At the bound in
	// all, the oldest entry of an owner holding most goes (O(1) but for ties, see evictAtBound).
	withCount map[int]map[string]struct{}
	most      int
	bytes     int64
	seq       uint64
	evicted   int // entries dropped to make room (tests, notes)
}

type boundedEntry[V any] struct {
	key, owner string
	size       int64
	seq        uint64    // the order of insertion
	until      time.Time // dropped once the clock reaches it
	v          V
	ownerElem  *list.Element
}

func newBounded[V any](maxCount, maxPerOwner int, maxBytes int64) *bounded[V] {
	return &bounded[V]{maxCount: maxCount, maxPerOwner: maxPerOwner, maxBytes: maxBytes,
		byKey: map[string]*list.Element{}, order: list.New(), byOwner: map[string]*list.List{}, withCount: map[int]map[string]struct{}{}}
}

func (b *bounded[V]) Len() int               { return len(b.byKey) }
func (b *bounded[V]) Owns(owner string) bool { return b.byOwner[owner] != nil }
func (b *bounded[V]) Bytes() int64           { return b.bytes }

// Get returns the entry under key.
func (b *bounded[V]) Get(key string) (V, bool) {
	if e, ok := b.byKey[key]; ok {
		return e.Value.(*boundedEntry[V]).v, true
	}
	var zero V
	return zero, false
}

// Delete drops the entry under key, if any.
func (b *bounded[V]) Delete(key string) {
	if e, ok := b.byKey[key]; ok {
		b.remove(e)
	}
}

func (b *bounded[V]) remove(e *list.Element) {
	be := e.Value.(*boundedEntry[V])
	delete(b.byKey, be.key)
	b.order.Remove(e)
	if ol := b.byOwner[be.owner]; ol != nil {
		ol.Remove(be.ownerElem)
		b.recount(be.owner, ol.Len()+1, ol.Len())
		if ol.Len() == 0 {
			delete(b.byOwner, be.owner)
		}
	}
	b.bytes -= be.size
}

// recount moves owner from the owners holding from entries to those holding to.
func (b *bounded[V]) recount(owner string, from, to int) {
	if set := b.withCount[from]; set != nil {
		delete(set, owner)
		if len(set) == 0 {
			delete(b.withCount, from)
		}
	}
	if to > 0 {
		set := b.withCount[to]
		if set == nil {
			set = map[string]struct{}{}
			b.withCount[to] = set
		}
		set[owner] = struct{}{}
	}
	for b.most > 0 && b.withCount[b.most] == nil {
		b.most--
	}
	b.most = max(b.most, to)
}

// evictAtBound drops the oldest entry of the owner holding the most entries (ties: the owner whose oldest entry
// is the oldest), so that a flood spread over many owners pushes out the flooder's own entries first. The tie is
// O(1) when the oldest entry of all belongs to an owner holding most, else linear in the owners tied.
func (b *bounded[V]) evictAtBound() {
	front := b.order.Front().Value.(*boundedEntry[V])
	victim := b.byKey[front.key]
	if b.byOwner[front.owner].Len() != b.most {
		var at uint64
		victim = nil
		for o := range b.withCount[b.most] {
			e := b.byKey[b.byOwner[o].Front().Value.(string)]
			if seq := e.Value.(*boundedEntry[V]).seq; victim == nil || seq < at {
				victim, at = e, seq
			}
		}
	}
	b.remove(victim)
	b.evicted++
}

// Prune drops the entries whose time has come, oldest first, stopping at the first one still live (entries are
// added with lifetimes that rarely change, so the front is the next to expire; a later one out of order goes
// when it reaches the front or is evicted).
func (b *bounded[V]) Prune(now time.Time) {
	for e := b.order.Front(); e != nil; e = b.order.Front() {
		if now.Before(e.Value.(*boundedEntry[V]).until) {
			return
		}
		b.remove(e)
	}
}

// Add stores v under key for owner, making room first: the owner's oldest entry while the owner is at its
// bound, then the oldest entry of the owner holding the most entries while the count or the bytes are. size larger than the byte bound is
// refused (false).
func (b *bounded[V]) Add(key, owner string, size int64, until time.Time, v V) bool {
	if size > b.maxBytes {
		return false
	}
	b.Delete(key)
	if ol := b.byOwner[owner]; ol != nil {
		for ol.Len() >= b.maxPerOwner {
			b.remove(b.byKey[ol.Front().Value.(string)])
			b.evicted++
		}
	}
	for b.order.Len() > 0 && (b.order.Len() >= b.maxCount || b.bytes+size > b.maxBytes) {
		b.evictAtBound()
	}
	ol := b.byOwner[owner]
	if ol == nil {
		ol = list.New()
		b.byOwner[owner] = ol
	}
	b.seq++
	be := &boundedEntry[V]{key: key, owner: owner, size: size, seq: b.seq, until: until, v: v}
	be.ownerElem = ol.PushBack(key)
	b.recount(owner, ol.Len()-1, ol.Len())
	b.byKey[key] = b.order.PushBack(be)
	b.bytes += size
	return true
}

// Each calls f for every entry, oldest first (tests and snapshots).
func (b *bounded[V]) Each(f func(key string, v V)) {
	for e := b.order.Front(); e != nil; e = e.Next() {
		be := e.Value.(*boundedEntry[V])
		f(be.key, be.v)
	}
}
