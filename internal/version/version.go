// Package version tells which mcpwatch this is, for `mcpwatch --version`, the HAR creator, the curl script header
// and the embedded server's serverInfo.version. It imports nothing of mcpwatch, so that any package may use it.
package version

import (
	"runtime/debug"
	"strings"
	"sync"
)

// stamp, set by the build (-ldflags "-X github.com/mcpwatch/mcpwatch/internal/version.stamp=v1.2.3", as the
// release configuration does), wins over the build info.
var stamp string

// fallback is the version when neither the build nor its build info says one (go test binaries, a build outside a
// module or a VCS checkout).
const fallback = "dev"

var once = sync.OnceValue(func() string {
	if stamp != "" {
		return stamp
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fallback
	}
	return fromBuildInfo(bi)
})

// String is this binary's version: the -ldflags stamp; else the module version of `go install
// github.com/mcpwatch/mcpwatch/cmd/mcpwatch@v1.2.3` (or of a build from a checkout of a tag); else, for a build from
// a source checkout, dev-REVISION-TIME with -dirty when the checkout had uncommitted changes (dev-f180cd1-20261206T012216Z-dirty);
// else "dev".
func String() string { return once() }

// fromBuildInfo is String's reading of the build info.
func fromBuildInfo(bi *debug.BuildInfo) string {
	var rev, at string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	mv := bi.Main.Version
	release := mv != "" && mv != "(devel)" && !strings.HasSuffix(mv, "+dirty")
	if release && rev != "" && len(rev) >= 12 && strings.Contains(mv, rev[:12]) {
		release = false // a pseudo-version that Go (1.24+) derived from the commit: say the commit plainly
	}
	if release {
		return mv // go install …@v1.2.3, or a clean checkout of a tag
	}
	if rev == "" {
		return fallback
	}
	v := "dev-" + rev[:min(len(rev), 7)]
	if at != "" {
		// 2026-12-06T01:22:16Z → 20261206T012216Z: one token, sortable.
		v += "-" + strings.NewReplacer("-", "", ":", "").Replace(at)
	}
	if modified {
		v += "-dirty"
	}
	return v
}
