package oauth

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// heapAfterGC is the live heap, measured after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// An oversized state is refused (invalid_request, not echoed) and nothing is kept; a state of MaxStateBytes is
// accepted. 40 authorization requests with a 900 KB state used to keep 36 MB until their consents expired.
func TestAuthorizeStateBounded(t *testing.T) {
	h := newHarness(t, unrecorded)
	const cb = "http://127.0.0.1:5000/cb"
	client := h.mustRegister(cb)
	_, challenge := pkce()
	big := strings.Repeat("s", 900<<10)
	before := heapAfterGC()
	for range 40 {
		r := h.get(authorizeQuery(client, cb, challenge, "state", big))
		switch r.Status {
		case http.StatusFound:
			q := r.Location(t).Query()
			if q.Get("error") != "invalid_request" || q.Has("state") || !strings.Contains(q.Get("error_description"), "state") {
				t.Fatalf("oversized state: redirect %v", q)
			}
		case http.StatusRequestURITooLong:
		default:
			t.Fatalf("oversized state: %d, want a redirect with invalid_request", r.Status)
		}
	}
	after := heapAfterGC()
	if after > before && after-before > 4<<20 {
		t.Errorf("40 refused requests with a 900 KB state left the heap %d MiB larger", (after-before)>>20)
	}
	h.as.mu.Lock()
	n := h.as.consents.Len()
	h.as.mu.Unlock()
	if n != 0 {
		t.Errorf("%d consents kept for refused requests", n)
	}
	// Just over the state limit, under the query limit: refused by the state rule, with its number.
	r := h.get(authorizeQuery(client, cb, challenge, "state", strings.Repeat("s", maxStateBytes+1)))
	if q := r.Location(t).Query(); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), fmt.Sprint(maxStateBytes)) {
		t.Errorf("state of %d bytes: %v", maxStateBytes+1, q)
	}
	// At the limit: a consent page.
	consentForm(t, h.get(authorizeQuery(client, cb, challenge, "state", strings.Repeat("s", maxStateBytes))))
}

// The bytes held by pending consents and codes stay under their bounds when every request carries the largest
// state allowed, from many clients: by the server's own accounting and by the heap.
func TestPendingBytesBounded(t *testing.T) {
	h := newHarness(t, unrecorded)
	redirect := "https://x.example/" + strings.Repeat("p", 1500)
	var clients []string
	for i := range 60 {
		clients = append(clients, h.mustRegister(redirect+fmt.Sprint(i)))
	}
	_, challenge := pkce()
	state := strings.Repeat("s", maxStateBytes)
	scope := strings.TrimSpace(strings.Repeat(strings.Repeat("x", 60)+" ", 16))
	before := heapAfterGC()
	for i := range maxConsents + 200 {
		c := i % len(clients)
		r := h.get(authorizeQuery(clients[c], redirect+fmt.Sprint(c), challenge, "state", state, "scope", scope))
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %.300s", i, r.Status, r.Body)
		}
	}
	h.as.mu.Lock()
	n, held, evicted := h.as.consents.Len(), h.as.consents.Bytes(), h.as.consents.evicted
	h.as.mu.Unlock()
	after := heapAfterGC()
	t.Logf("%d consents, %d KiB by the accounting, heap +%d KiB, %d evicted", n, held>>10, (int64(after)-int64(before))>>10, evicted)
	if n > maxConsents || held > maxConsentBytes {
		t.Errorf("%d consents holding %d bytes: bounds %d and %d", n, held, maxConsents, maxConsentBytes)
	}
	if evicted == 0 {
		t.Error("nothing evicted: the flood did not reach a bound")
	}
	if after > before && after-before > maxConsentBytes*3/2 {
		t.Errorf("heap grew by %d MiB, more than 1.5 times the %d MiB consent budget", (after-before)>>20, maxConsentBytes>>20)
	}
}

// A stranger flooding GET /authorize with one client id pushes out only its own pending consents: another client
// still gets its consent page and completes its flow.
func TestConsentFloodDoesNotLockOut(t *testing.T) {
	h := newHarness(t)
	flooder := h.mustRegister(cb)
	_, challenge := pkce()
	for i := range maxConsents + 50 {
		if r := h.get(authorizeQuery(flooder, cb, challenge)); r.Status != http.StatusOK {
			t.Fatalf("flood request %d: %d %.200s", i, r.Status, r.Body)
		}
	}
	h.as.mu.Lock()
	n := h.as.consents.Len()
	h.as.mu.Unlock()
	if n > maxConsentsPerClient {
		t.Errorf("one client holds %d pending consents, bound %d", n, maxConsentsPerClient)
	}
	client, tk := h.flow("https://victim.example/cb")
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Fatalf("victim %s after the flood: /mcp %d", client, r.Status)
	}
}

// Many strangers (each its own client) fill the global bound: the oldest go, the newest client still completes.
func TestConsentFloodManyClients(t *testing.T) {
	h := newHarness(t)
	_, challenge := pkce()
	var ids []string
	for range maxConsents/maxConsentsPerClient + 5 {
		ids = append(ids, h.mustRegister(cb))
	}
	for i := range maxConsents + 100 {
		if r := h.get(authorizeQuery(ids[i%len(ids)], cb, challenge)); r.Status != http.StatusOK {
			t.Fatalf("flood request %d: %d", i, r.Status)
		}
	}
	_, tk := h.flow("https://victim.example/cb")
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Fatalf("victim after the flood: /mcp %d", r.Status)
	}
}

// RFC 6749 §3.3: a scope token is printable ASCII other than space, '"' and '\'.
func TestScopeSyntax(t *testing.T) {
	h := newHarness(t)
	const cb = "http://127.0.0.1:5000/cb"
	client, tk := h.flow(cb, "scope", "mcp")
	_, challenge := pkce()
	for _, bad := range []string{"mcp\tadmin", "a\"b", `a\b`, "caf\u00e9", "mcp\nx", strings.Repeat("x", maxScopeBytes+1)} {
		r := h.get(authorizeQuery(client, cb, challenge, "scope", bad))
		if q := r.Location(t).Query(); q.Get("error") != "invalid_scope" {
			t.Errorf("authorize scope %q: %v", bad, q)
		}
		wantOAuthError(t, h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client, "scope", bad), 400, "invalid_scope")
	}
	consentForm(t, h.get(authorizeQuery(client, cb, challenge, "scope", "mcp  claudeai")))
}

// One client's codes are bounded (auto-approve mints one per request): past maxCodesPerClient its oldest go, and
// another client's code is untouched.
func TestCodesPerClientBounded(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = true }))
	const cb = "http://127.0.0.1:5000/cb"
	victim, flooder := h.mustRegister(cb), h.mustRegister(cb)
	verifier, challenge := pkce()
	code := h.get(authorizeQuery(victim, cb, challenge)).Location(t).Query().Get("code")
	var first string
	for i := range maxCodesPerClient + 50 {
		c := h.get(authorizeQuery(flooder, cb, challenge)).Location(t).Query().Get("code")
		if i == 0 {
			first = c
		}
	}
	h.as.mu.Lock()
	n, held := h.as.codes.Len(), h.as.codes.Bytes()
	h.as.mu.Unlock()
	if n != maxCodesPerClient+1 || held > maxCodeBytes {
		t.Errorf("%d codes (%d bytes) held, want %d", n, held, maxCodesPerClient+1)
	}
	wantOAuthError(t, h.tokenForm("grant_type", "authorization_code", "code", first, "client_id", flooder, "redirect_uri", cb, "code_verifier", verifier), 400, "invalid_grant")
	h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "client_id", victim, "redirect_uri", cb, "code_verifier", verifier))
}

// The browser cookie a request brings is not kept with its pending consent unless it is one of ours in size: 40
// requests with a 500 KB cookie used to keep 20 MB.
func TestBrowserCookieBounded(t *testing.T) {
	h := newHarness(t, unrecorded)
	const cb = "http://127.0.0.1:5000/cb"
	_, challenge := pkce()
	var clients []string
	for range 4 {
		clients = append(clients, h.mustRegister(cb))
	}
	before := heapAfterGC()
	for i := range 40 {
		r := h.get(authorizeQuery(clients[i%4], cb, challenge), "Cookie", browserCookie+"="+strings.Repeat("b", 500<<10))
		if r.Status != http.StatusOK {
			t.Fatalf("%d", r.Status)
		}
	}
	after := heapAfterGC()
	h.as.mu.Lock()
	held := h.as.consents.Bytes()
	h.as.mu.Unlock()
	if held > 40*(4<<10) || after > before && after-before > 4<<20 {
		t.Errorf("40 consents with a 500 KB cookie: %d bytes by the accounting, heap +%d KiB", held, (int64(after)-int64(before))>>10)
	}
}
