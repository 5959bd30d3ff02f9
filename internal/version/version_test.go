package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "f180cd1a2b3c4d5e6f708192a3b4c5d6e7f80910"
	for _, tc := range []struct {
		name     string
		main     string
		settings []debug.BuildSetting
		want     string
	}{
		{"go install @version", "v1.2.3", nil, "v1.2.3"},
		{"clean checkout of a tag", "v1.2.3", vcs(rev, "2026-12-06T01:22:16Z", "false"), "v1.2.3"},
		{"source build, pseudo-version", "v0.0.0-20261206012216-f180cd1a2b3c", vcs(rev, "2026-12-06T01:22:16Z", "false"), "dev-f180cd1-20261206T012216Z"},
		{"source build, dirty", "v0.0.0-20261206012216-f180cd1a2b3c+dirty", vcs(rev, "2026-12-06T01:22:16Z", "true"), "dev-f180cd1-20261206T012216Z-dirty"},
		{"source build, Go before 1.24", "(devel)", vcs(rev, "2026-12-06T01:22:16Z", "true"), "dev-f180cd1-20261206T012216Z-dirty"},
		{"no VCS, no version", "(devel)", nil, "dev"},
		{"test binary", "", nil, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/mcpwatch/mcpwatch", Version: tc.main}, Settings: tc.settings}
			if got := fromBuildInfo(bi); got != tc.want {
				t.Errorf("fromBuildInfo = %q, want %q", got, tc.want)
			}
		})
	}
}
