package proxy

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// A browser keeps a host-only cookie per host, whatever the port: a cookie the watched authorization server set
// through its listener (127.0.0.1:4001) is sent to the MCP listener (127.0.0.1:4000) too, and through it to the
// upstream MCP server, which never saw it set and should not see the user's login session; and the other way
// round. The real servers are on different origins, where this cannot happen. So each listener remembers the names
// of the cookies its server set, and the other listener removes them from what it forwards. A name both servers
// set is one cookie in the browser, the value of whichever set it last: it goes to that server alone (learning a
// name on one side forgets it on the other), rather than to neither.

// maxCookieNames bounds the names remembered per side (a server sets a handful; a stranger's upstream could set
// thousands): beyond it the oldest name is forgotten.
const maxCookieNames = 64

// cookieNames is a bounded set of cookie names, safe for concurrent use.
type cookieNames struct {
	mu    sync.Mutex
	names []string // oldest first
}

// learn remembers the names of the cookies resp sets, and makes other (the other listener's names) forget them:
// the browser now holds this server's value under each name.
func (c *cookieNames) learn(resp *http.Response, other *cookieNames) {
	vals := resp.Header["Set-Cookie"]
	if len(vals) == 0 {
		return
	}
	var learnt []string
	c.mu.Lock()
	for _, v := range vals {
		pair, _, _ := strings.Cut(v, ";")
		name, _, _ := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 256 {
			continue
		}
		learnt = append(learnt, name)
		if slices.Contains(c.names, name) {
			continue
		}
		if len(c.names) == maxCookieNames {
			c.names = slices.Delete(c.names, 0, 1)
		}
		c.names = append(c.names, name)
	}
	c.mu.Unlock()
	if other != nil && len(learnt) > 0 {
		other.mu.Lock()
		other.names = slices.DeleteFunc(other.names, func(n string) bool { return slices.Contains(learnt, n) })
		other.mu.Unlock()
	}
}

// strip removes, from the Cookie headers of h, the cookies whose names were learnt; it returns their names.
func (c *cookieNames) strip(h http.Header) []string {
	vals := h["Cookie"]
	if len(vals) == 0 {
		return nil
	}
	c.mu.Lock()
	names := slices.Clone(c.names)
	c.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	var removed []string
	kept := vals[:0:0]
	for _, v := range vals {
		var parts []string
		for _, p := range strings.Split(v, ";") {
			name, _, _ := strings.Cut(p, "=")
			if name = strings.TrimSpace(name); slices.Contains(names, name) {
				if !slices.Contains(removed, name) {
					removed = append(removed, name)
				}
				continue
			}
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(removed) == 0 {
		return nil
	}
	if len(kept) == 0 {
		h.Del("Cookie")
	} else {
		h["Cookie"] = kept
	}
	return removed
}

// stripCookies removes from an outbound request the cookies the other listener's server set, and notes it on the
// inbound exchange.
func stripCookies(ctx context.Context, h http.Header, other *cookieNames, setBy, key string) {
	removed := other.strip(h)
	if len(removed) == 0 {
		return
	}
	addNotes(ctx, []Rewrite{{Where: "header Cookie", Count: len(removed), key: key,
		Before: strings.Join(removed, ", "),
		After:  "removed: set by " + setBy + " (a browser sends a host-only cookie to every port of the host)"}})
}
