package toggle

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Active is a toggle that is on, with its value.
type Active struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Since time.Time
	// parsed is the validated value: true, a time.Duration, a FailSpec, []string hosts, a string.
	parsed any
}

// Spec is NAME or NAME=VALUE.
func (a Active) Spec() string {
	if a.Value == "" {
		return a.Name
	}
	return a.Name + "=" + a.Value
}

// Set holds the active toggles. It is safe for concurrent use; a change applies to the next request.
type Set struct {
	mode string
	mu   sync.RWMutex
	on   map[string]Active
	n    atomic.Int32 // len(on), read without the lock on every request
	subs []func([]Active)
	now  func() time.Time
}

// NewSet returns an empty set for mode (ModeServe or ModeProxy).
func NewSet(mode string) *Set {
	return &Set{mode: mode, on: map[string]Active{}, now: time.Now}
}

// Mode is where the set applies.
func (s *Set) Mode() string { return s.mode }

// Set switches a toggle on (or changes its value). spec is NAME or NAME=VALUE.
func (s *Set) Set(spec string) error { return s.Apply([]string{spec}, nil) }

// Unset switches a toggle off. Unsetting a toggle that is off is not an error; an unknown name is.
func (s *Set) Unset(name string) error { return s.Apply(nil, []string{name}) }

// Apply switches the toggles of on on (NAME or NAME=VALUE; a later spec of the same toggle wins) and those named in
// off off, all or nothing: every spec and name is validated first, and the first bad one is the error, with
// nothing changed. The change is made under one lock, and listeners hear it once (not at all when it only unset
// toggles that were off).
func (s *Set) Apply(on, off []string) error {
	add := make([]Active, 0, len(on))
	for _, spec := range on {
		d, value, parsed, err := ParseSpec(spec)
		if err != nil {
			return err
		}
		if !d.AppliesTo(s.mode) {
			return fmt.Errorf("toggle %s applies to %s only, not to %s mode", d.Name, strings.Join(d.Modes, " and "), s.mode)
		}
		add = append(add, Active{Name: d.Name, Value: value, parsed: parsed})
	}
	for _, name := range off {
		if _, ok := Lookup(name); !ok {
			return fmt.Errorf("unknown toggle %q; valid toggles: %s", name, strings.Join(names(), ", "))
		}
	}
	s.mu.Lock()
	changed := len(add) > 0
	for _, name := range off {
		if _, was := s.on[name]; was {
			delete(s.on, name)
			changed = true
		}
	}
	now := s.now()
	for _, a := range add {
		a.Since = now
		s.on[a.Name] = a
	}
	s.n.Store(int32(len(s.on)))
	subs, list := s.subs, s.listLocked()
	s.mu.Unlock()
	if changed {
		for _, f := range subs {
			f(list)
		}
	}
	return nil
}

// List returns the active toggles in catalogue order.
func (s *Set) List() []Active {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listLocked()
}

func (s *Set) listLocked() []Active {
	out := make([]Active, 0, len(s.on))
	for _, d := range registry {
		if a, ok := s.on[d.Name]; ok {
			out = append(out, a)
		}
	}
	return out
}

// Empty reports whether no toggle is on: the middleware's fast path, one atomic load.
func (s *Set) Empty() bool { return s.n.Load() == 0 }

// Has reports whether a toggle is on.
func (s *Set) Has(t Toggle) bool {
	if s.Empty() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.on[t.Name()]
	return ok
}

// value returns the parsed value of an active toggle.
func (s *Set) value(t Toggle) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.on[t.Name()]
	return a.parsed, ok
}

// Duration returns the value of a DURATION toggle that is on.
func (s *Set) Duration(t Toggle) (time.Duration, bool) {
	v, ok := s.value(t)
	d, _ := v.(time.Duration)
	return d, ok && d > 0
}

// String returns the value of a toggle that is on (VERSION, SCOPES, CODE).
func (s *Set) String(t Toggle) (string, bool) {
	v, ok := s.value(t)
	str, _ := v.(string)
	return str, ok
}

// Hosts returns the value of redirect-allow when it is on.
func (s *Set) Hosts(t Toggle) ([]string, bool) {
	v, ok := s.value(t)
	h, _ := v.([]string)
	return slices.Clone(h), ok
}

// Fail returns the value of fail when it is on.
func (s *Set) Fail() (FailSpec, bool) {
	v, ok := s.value(Fail)
	f, _ := v.(FailSpec)
	return f, ok
}

// OnChange registers f to be called with the active list after every change (from the changing goroutine).
func (s *Set) OnChange(f func([]Active)) {
	s.mu.Lock()
	s.subs = append(s.subs, f)
	s.mu.Unlock()
}
