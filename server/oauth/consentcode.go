package oauth

import (
	"crypto/rand"
	"strings"
)

// The consent code (--consent-code, off by default): a passcode shown only to the person running mcpwatch (its
// terminal, never a page, the log or a response), which the consent page asks for before it approves. With a
// tunnel left open, a stranger who finds the URL can then no longer approve their own authorization requests.
// The code is 12 characters of base32 (A–Z, 2–7: 60 bits); a pending consent allows maxConsentCodeTries wrong
// answers, then it is dropped. Denying needs no code. The form field is consent_secret, a name the export's
// redaction treats as a secret.

const maxConsentCodeTries = 3

// NewConsentCode returns a fresh consent code, grouped for reading: XXXX-XXXX-XXXX.
func NewConsentCode() string {
	t := rand.Text()
	return t[0:4] + "-" + t[4:8] + "-" + t[8:12]
}

// normalizeConsentCode is what is compared: upper case, without the separators a person may or may not type.
func normalizeConsentCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
