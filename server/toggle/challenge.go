package toggle

import (
	"net/url"
	"strings"
)

// param is one auth-param of a challenge, in the order it was sent.
type param struct{ key, value string }

// parseBearer splits `Bearer k="v", k2=v2` into its params, keeping their order. ok is false for another scheme
// or a value it cannot read (then the header is left alone).
func parseBearer(h string) (params []param, ok bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, false
	}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		k, after, found := strings.Cut(rest, "=")
		if !found {
			return nil, false
		}
		k = strings.TrimSpace(k)
		after = strings.TrimLeft(after, " ")
		var v string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			if i >= len(after) {
				return nil, false
			}
			v, rest = b.String(), after[i+1:]
		} else {
			end := strings.IndexByte(after, ',')
			if end < 0 {
				end = len(after)
			}
			v, rest = strings.TrimSpace(after[:end]), after[end:]
		}
		params = append(params, param{strings.ToLower(k), v})
		rest = strings.TrimLeft(strings.TrimSpace(rest), ",")
		rest = strings.TrimSpace(rest)
	}
	return params, true
}

func formatBearer(params []param) string {
	var b strings.Builder
	b.WriteString("Bearer")
	for i, p := range params {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.key)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p.value))
		b.WriteByte('"')
	}
	return b.String()
}

// rewriteChallenge applies the discovery toggles to a 401's WWW-Authenticate Bearer challenge.
func (rw *rewriter) rewriteChallenge() {
	s, h := rw.m.set, rw.Header()
	scope, scopeOn := s.String(ScopeChallenge)
	if !s.Has(OmitResourceMetadata) && !s.Has(RelativeResourceMetadata) && !scopeOn {
		return
	}
	vals := h.Values("WWW-Authenticate")
	for i, v := range vals {
		params, ok := parseBearer(v)
		if !ok {
			continue
		}
		var out []param
		var changed []Toggle
		for _, p := range params {
			switch {
			case p.key == "resource_metadata" && s.Has(OmitResourceMetadata):
				changed = append(changed, OmitResourceMetadata)
				continue
			case p.key == "resource_metadata" && s.Has(RelativeResourceMetadata):
				if u, err := url.Parse(p.value); err == nil && u.IsAbs() {
					p.value = u.RequestURI()
					changed = append(changed, RelativeResourceMetadata)
				}
			case p.key == "scope" && scopeOn:
				if p.value != scope {
					p.value = scope
					changed = append(changed, ScopeChallenge)
				}
				scopeOn = false // done
			}
			out = append(out, p)
		}
		if scopeOn {
			out = append(out, param{"scope", scope})
			changed = append(changed, ScopeChallenge)
		}
		if len(changed) == 0 {
			continue
		}
		nv := formatBearer(out)
		for _, t := range changed {
			record(rw.ctx, t, "response header WWW-Authenticate", v, nv)
		}
		vals[i] = nv
	}
	h["Www-Authenticate"] = vals
}
