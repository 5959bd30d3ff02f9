package oauth

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/export"
)

// With a consent code, approving needs it (any case, with or without the dashes); three wrong answers drop the
// request; denying needs none; the code never appears on a page. Without one, the page asks for nothing.
func TestConsentCode(t *testing.T) {
	const redirect = "http://127.0.0.1:5000/cb"
	plain := newHarness(t)
	if page := plain.get(authorizeQuery(plain.mustRegister(redirect), redirect, "x"+strings.Repeat("a", 42))); strings.Contains(page.Body, "consent_secret") {
		t.Error("the consent page asks for a code that is off")
	}

	code := NewConsentCode()
	if !regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`).MatchString(code) || code == NewConsentCode() {
		t.Fatalf("code %q", code)
	}
	h := newHarness(t, withOptions(func(o *Options) { o.ConsentCode = code }))
	client := h.mustRegister(redirect)
	_, challenge := pkce()
	answer := func(form url.Values, action, given string) *response {
		f := cloneValues(form)
		f.Set("action", action)
		if given != "" {
			f.Set("consent_secret", given)
		}
		return h.post(pathAuthorize, "application/x-www-form-urlencoded", f.Encode())
	}
	page := h.get(authorizeQuery(client, redirect, challenge))
	if !strings.Contains(page.Body, `name="consent_secret"`) || strings.Contains(page.Body, code) {
		t.Fatalf("consent page: asks for the code %v, shows it %v", strings.Contains(page.Body, `name="consent_secret"`), strings.Contains(page.Body, code))
	}
	form := consentForm(t, page)
	for i, given := range []string{"", "AAAA-BBBB-CCCC", strings.ToLower(code[:5])} {
		r := answer(form, "approve", given)
		if r.Status != http.StatusForbidden || r.Header.Get("Location") != "" || strings.Contains(r.Body, code) {
			t.Fatalf("wrong code %d: %d %q", i, r.Status, r.Header.Get("Location"))
		}
	}
	// Three wrong answers: the request is gone, even with the right code.
	if r := answer(form, "approve", code); r.Status == http.StatusFound {
		t.Fatal("approved after three wrong codes")
	}
	// A new request: the right code, typed loosely, approves.
	form = consentForm(t, h.get(authorizeQuery(client, redirect, challenge)))
	r := answer(form, "approve", " "+strings.ToLower(strings.ReplaceAll(code, "-", ""))+" ")
	if r.Status != http.StatusFound || r.Location(t).Query().Get("code") == "" {
		t.Fatalf("right code: %d %s", r.Status, r.Body)
	}
	// Deny needs no code.
	form = consentForm(t, h.get(authorizeQuery(client, redirect, challenge)))
	if r := answer(form, "deny", ""); r.Status != http.StatusFound || r.Location(t).Query().Get("error") != "access_denied" {
		t.Fatalf("deny: %d", r.Status)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// The consent form's field is one the export redacts.
func TestConsentCodeFieldIsRedacted(t *testing.T) {
	ex := &recorder.Exchange{Method: "POST", URL: pathAuthorize, ReqHeaders: recorder.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
		ReqBody: recorder.Body{Data: []byte("consent=x&consent_secret=ABCD-EFGH-IJKL&action=approve")}}
	out := export.Redact([]*recorder.Exchange{ex})
	if strings.Contains(string(out[0].ReqBody.Data), "ABCD-EFGH-IJKL") {
		t.Errorf("exported body: %s", out[0].ReqBody.Data)
	}
}
