package tui

import (
	"slices"
)

// setFilter applies a parsed filter. When the new filter only narrows the old one (the user typed one more
// character), only the rows the old one let through are searched.
func (d *flowView) setFilter(f filter) {
	old := d.filter
	d.filter = f
	d.gen++
	if !f.empty() && d.fromCache(f.src) {
		return
	}
	defer func() {
		if d.vis != nil {
			d.toCache(f.src)
		}
	}()
	switch {
	case f.empty():
		if d.vis != nil {
			d.visBuf = d.vis[:0]
		}
		d.vis = nil
	case d.vis != nil && f.narrows(old):
		kept := d.vis[:0]
		for _, abs := range d.vis {
			if f.match(&d.rows[abs-d.base], d) {
				kept = append(kept, abs)
			}
		}
		d.vis = kept
	default:
		d.refilter()
	}
}

// visCache keeps the results of the last filters typed, for as long as the data has not changed: deleting a
// character gives back the previous filter's rows without a pass over every exchange.
type visCache struct {
	src     string
	version uint64
	vis     []int
}

// maxCached bounds the cache: entries, and row indices in all (four times the rows' bound).
const maxCached = 32

func (d *flowView) fromCache(src string) bool {
	for i, c := range d.cache {
		if c.src == src && c.version == d.version {
			dst := d.vis
			if dst == nil {
				dst = d.visBuf
			}
			d.vis = append(dst[:0], c.vis...)
			d.cache = append(d.cache[:i], d.cache[i+1:]...)
			d.cache = append(d.cache, c)
			return true
		}
	}
	return false
}

func (d *flowView) toCache(src string) {
	if len(d.vis) > d.limits.MaxCount/4 {
		return // a broad filter is searched again rather than copied (its copy costs about what it saves)
	}
	total := len(d.vis)
	keep := d.cache[:0]
	for _, c := range d.cache {
		if c.version == d.version && c.src != src {
			keep = append(keep, c)
		}
	}
	d.cache = keep
	for _, c := range d.cache {
		total += len(c.vis)
	}
	for len(d.cache) > 0 && (len(d.cache) >= maxCached || total > 4*d.limits.MaxCount) {
		total -= len(d.cache[0].vis)
		d.cache = d.cache[1:]
	}
	if total <= 4*d.limits.MaxCount {
		d.cache = append(d.cache, visCache{src: src, version: d.version, vis: slices.Clone(d.vis)})
	}
}

// refilter computes the filtered view from scratch.
func (d *flowView) refilter() {
	if d.filter.empty() {
		if d.vis != nil {
			d.visBuf = d.vis[:0]
		}
		d.vis = nil
		return
	}
	d.gen++ // the hays' results may have changed with the report
	vis := d.vis[:0]
	if vis == nil {
		vis = d.visBuf[:0]
	}
	if vis == nil {
		vis = make([]int, 0, len(d.rows))
	}

	for i := range d.rows {
		if d.filter.match(&d.rows[i], d) {
			vis = append(vis, d.base+i)
		}
	}
	d.vis = vis
}

// rematch updates the filtered view after the row at absolute index abs changed.
func (d *flowView) rematch(abs int) {
	j, in := slices.BinarySearch(d.vis, abs)
	ok := d.filter.match(&d.rows[abs-d.base], d)
	switch {
	case ok && !in:
		d.vis = slices.Insert(d.vis, j, abs)
	case !ok && in:
		d.vis = slices.Delete(d.vis, j, j+1)
	}
}
