package oauth

import (
	"fmt"
	"strings"
)

// maxScopes bounds the scope tokens of one request.
const maxScopes = 32

// parseScope reads a scope parameter (RFC 6749 §3.3): scope tokens of printable ASCII other than '"' and '\',
// separated by spaces (runs of spaces are tolerated; tabs, newlines and other characters are not). The parameter is
// at most MaxScopeBytes long and names at most maxScopes tokens. The error is worded for error_description.
func parseScope(raw string) ([]string, error) {
	if len(raw) > maxScopeBytes {
		return nil, fmt.Errorf("scope is %d bytes; this server takes at most %d", len(raw), maxScopeBytes)
	}
	var out []string
	for _, tok := range strings.Split(raw, " ") {
		if tok == "" {
			continue
		}
		if err := CheckScope(tok); err != nil {
			return nil, err
		}
		if len(out) == maxScopes {
			return nil, fmt.Errorf("more than %d scopes", maxScopes)
		}
		out = append(out, tok)
	}
	return out, nil
}
