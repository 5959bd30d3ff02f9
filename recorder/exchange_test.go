package recorder

import "testing"

func TestTargetAndPath(t *testing.T) {
	tests := []struct {
		name, url, target, path string
		abs                     bool
	}{
		{"origin-form", "/mcp", "/mcp", "/mcp", false},
		{"with query", "/authorize?client_id=a&state=s", "/authorize?client_id=a&state=s", "/authorize", false},
		// A literal URL in the query (legal unencoded): the target is not cut at its "://".
		{"URL in the query", "/authorize?response_type=code&resource=http://127.0.0.1:47311/mcp",
			"/authorize?response_type=code&resource=http://127.0.0.1:47311/mcp", "/authorize", false},
		{"URL in the path", "/proxy/http://example.com/x", "/proxy/http://example.com/x", "/proxy/http://example.com/x", false},
		{"fragment", "/cb?code=c#frag", "/cb?code=c", "/cb", false},
		{"asterisk-form", "*", "*", "*", false},
		{"absolute (outbound)", "https://claude.ai/oauth/mcp-oauth-client-metadata", "/oauth/mcp-oauth-client-metadata", "/oauth/mcp-oauth-client-metadata", true},
		{"absolute with a URL in its query", "http://127.0.0.1:9000/authorize?resource=http://127.0.0.1:47311/mcp",
			"/authorize?resource=http://127.0.0.1:47311/mcp", "/authorize", true},
		{"absolute, no path", "http://upstream.example", "/", "/", true},
		{"absolute, query without path", "http://upstream.example?x=http://y/z", "/?x=http://y/z", "/", true},
		{"scheme with digits and plus", "svn+ssh2://h/p", "/p", "/p", true},
		{"not a scheme: starts with a digit", "1http://h/p", "1http://h/p", "1http://h/p", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &Exchange{URL: tt.url}
			if got := ex.Target(); got != tt.target {
				t.Errorf("Target() = %q, want %q", got, tt.target)
			}
			if got := ex.Path(); got != tt.path {
				t.Errorf("Path() = %q, want %q", got, tt.path)
			}
			if got := ex.IsAbsolute(); got != tt.abs {
				t.Errorf("IsAbsolute() = %v, want %v", got, tt.abs)
			}
		})
	}
}
