package analysis

import (
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/timeword"
)

// instant is a time.Time held without a pointer, so that what a connection keeps of its stages and marks is not
// scanned by the collector (a session setup's connection keeps three stages and four marks: 256 bytes it marked on
// every cycle, a fifth of what the analysis holds per setup): time.Time's wall and ext words as it keeps them (the
// monotonic reading included, so that a time read back is == the one kept) and its location as a small number.
type instant struct {
	wall uint64
	ext  int64
}

// Location codes: nil (UTC), Local, and locations of their own (a capture's times parsed with another offset) by
// their index in locs, plus locFirst.
const (
	locUTC   = 0
	locLocal = 1
	locFirst = 2
	locMax   = 255 // past it a time is kept in UTC: its instant, not how it is shown (not reached by real captures)
)

// locs are the other locations instants were made in, shared by every analyzer: a fixed zone without a name (what
// time.Parse makes of an offset, a new one for every time parsed) is one entry per offset, so that a capture's
// times do not each take one.
var locs struct {
	sync.Mutex
	l []*time.Location
}

// locCode is the code of l for a time t in it.
func locCode(t time.Time, l *time.Location) uint8 {
	switch l {
	case nil:
		return locUTC
	case time.Local:
		return locLocal
	}
	name, off := t.Zone()
	unnamed := l.String() == ""
	locs.Lock()
	defer locs.Unlock()
	for i, x := range locs.l {
		if x == l || unnamed && x.String() == "" && zoneOffset(t, x) == off {
			return uint8(locFirst + i)
		}
	}
	if locFirst+len(locs.l) > locMax {
		return locUTC
	}
	if unnamed {
		l = time.FixedZone(name, off)
	}
	locs.l = append(locs.l, l)
	return uint8(locFirst + len(locs.l) - 1)
}

func zoneOffset(t time.Time, l *time.Location) int {
	_, off := t.In(l).Zone()
	return off
}

// locOf is the location of code c.
func locOf(c uint8) *time.Location {
	switch c {
	case locUTC:
		return nil
	case locLocal:
		return time.Local
	}
	locs.Lock()
	defer locs.Unlock()
	if i := int(c) - locFirst; i < len(locs.l) {
		return locs.l[i]
	}
	return nil
}

// instantOf is t as an instant and the code of its location.
func instantOf(t time.Time) (instant, uint8) {
	if !timeword.OK {
		return instant{wall: uint64(t.UnixNano()), ext: boolInt(t.IsZero())}, locCode(t, t.Location())
	}
	w, loc := timeword.Split(&t)
	return instant{wall: w.Wall, ext: w.Ext}, locCode(t, loc)
}

// time is the time.Time an instant with location code loc keeps.
func (i instant) time(loc uint8) time.Time {
	l := locOf(loc)
	if !timeword.OK {
		if i.ext == 1 {
			return time.Time{}
		}
		t := time.Unix(0, int64(i.wall))
		if l == nil {
			return t.UTC()
		}
		return t.In(l)
	}
	return timeword.Join(timeword.Words{Wall: i.wall, Ext: i.ext}, l)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
