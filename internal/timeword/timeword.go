// Package timeword reads and writes a time.Time as its two words without the location pointer, for records that
// must hold no pointer (the recorder's packed store, the analysis' stage times): the wall and ext words as
// time.Time keeps them, the monotonic reading included, so that a time written back is == the one read.
package timeword

import (
	"time"
	"unsafe"
)

// Words are a time.Time's wall and ext words.
type Words struct {
	Wall uint64
	Ext  int64
}

// layout is time.Time's layout; OK says it still is (a Go release that changes it makes callers fall back).
type layout struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

// OK reports whether time.Time has the layout Split and Join assume. When it does not, they must not be called.
var OK = unsafe.Sizeof(time.Time{}) == unsafe.Sizeof(layout{}) && func() bool {
	t := time.Now()
	w, l := split(&t)
	return Join(w, l) == t && l == time.Local
}()

// Split returns t's words and its location pointer (nil: UTC).
func Split(t *time.Time) (Words, *time.Location) { return split(t) }

func split(t *time.Time) (Words, *time.Location) {
	l := (*layout)(unsafe.Pointer(t))
	return Words{Wall: l.wall, Ext: l.ext}, l.loc
}

// Join is the time.Time of words w in location loc (nil: UTC).
func Join(w Words, loc *time.Location) time.Time {
	var t time.Time
	*(*layout)(unsafe.Pointer(&t)) = layout{wall: w.Wall, ext: w.Ext, loc: loc}
	return t
}
