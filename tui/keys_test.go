package tui

import (
	"reflect"
	"testing"

	"charm.land/bubbles/v2/key"
)

// The global bindings (moving and actions: every field of KeyMap but the ones read inside a dialog or a prompt)
// are told apart by their keys: a dialog added with a key another binding already has would never open, and no
// other test would say so.
func TestGlobalKeysAreDistinct(t *testing.T) {
	contextual := map[string]bool{"Flip": true, "Unset": true, "Accept": true, "Cancel": true, "NextFormat": true}
	km := reflect.ValueOf(defaultKeyMap())
	owner := map[string]string{}
	for i := range km.NumField() {
		name := km.Type().Field(i).Name
		if contextual[name] {
			continue
		}
		b := km.Field(i).Interface().(key.Binding)
		if len(b.Keys()) == 0 {
			t.Errorf("%s has no key", name)
		}
		for _, k := range b.Keys() {
			if o, dup := owner[k]; dup {
				t.Errorf("key %q is bound to both %s and %s", k, o, name)
			}
			owner[k] = name
		}
	}
}
