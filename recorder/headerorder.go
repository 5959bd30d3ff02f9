package recorder

import (
	"net/http"
	"slices"
	"sync/atomic"
)

// headerOrder lists header maps as FromHTTP does, remembering the sorted names of the last few sets of names it
// saw: a proxy's requests to its upstream (and the upstream's answers) carry the same names call after call, and
// walking the map and sorting its names again was most of what listing them cost (px20: 1.5 µs a proxied call for
// the upstream copy's two lists). A map whose names are a remembered set (as many names, each of them present) is
// listed in that order through the look-ups FromHTTP makes anyway; any other is listed as FromHTTP lists it, and
// its names remembered in place of the oldest set.
type headerOrder struct {
	sets [headerOrderSets]atomic.Pointer[[]string] // sorted names; each slice is never written once stored
	next atomic.Uint32                             // the slot the next new set replaces
}

// headerOrderSets is how many sets of names a headerOrder remembers (clients that send different headers
// interleave their requests); maxOrderNames the most names a remembered set has (a map with more is sorted).
const (
	headerOrderSets = 4
	maxOrderNames   = 32
)

// list returns FromHTTP(h): the same names and values in the same order (names are the remembered strings, equal
// to h's).
func (o *headerOrder) list(h http.Header) Headers { return o.listIn(nil, 0, h) }

// listIn is list with the list made in room's array when it has room for it (room's length is ignored), else in a
// new one with extra elements of room past the list's length (a list that follows it: the upstream copy's answer).
func (o *headerOrder) listIn(room Headers, extra int, h http.Header) Headers {
	if len(h) == 0 || len(h) > maxOrderNames {
		return fromHTTPIn(room, extra, h)
	}
	var vals [maxOrderNames][]string // no allocation: the values of each name, in the names' order
	for i := range o.sets {
		p := o.sets[i].Load()
		if p == nil || len(*p) != len(h) {
			continue
		}
		names := *p
		n, ok := 0, true
		for k, name := range names {
			vs, in := h[name]
			if !in {
				ok = false
				break
			}
			vals[k] = vs
			n += len(vs)
		}
		if !ok {
			continue
		}
		out := makeHeaders(room, extra, n)
		for k, name := range names {
			for _, v := range vals[k] {
				out = append(out, Header{Name: name, Value: v})
			}
		}
		return out
	}
	out := fromHTTPIn(room, extra, h)
	names := make([]string, 0, len(h))
	for i, hd := range out {
		if i == 0 || hd.Name != out[i-1].Name {
			names = append(names, hd.Name)
		}
	}
	if len(names) != len(h) {
		// a name without values (FromHTTP lists nothing for it): not remembered
		return out
	}
	names = slices.Clip(names)
	o.sets[o.next.Add(1)%headerOrderSets].Store(&names)
	return out
}

// makeHeaders returns an empty list with room for n: room's array when it has, else a new one of n+extra.
func makeHeaders(room Headers, extra, n int) Headers {
	if room != nil && cap(room) >= n {
		return room[:0]
	}
	return make(Headers, 0, n+extra)
}

// fromHTTPIn is FromHTTP(h) made as makeHeaders makes it.
func fromHTTPIn(room Headers, extra int, h http.Header) Headers {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	out := makeHeaders(room, extra, n)
	var keys [32]string
	for _, name := range appendSortedKeys(keys[:0], h) {
		for _, v := range h[name] {
			out = append(out, Header{Name: name, Value: v})
		}
	}
	return out
}
