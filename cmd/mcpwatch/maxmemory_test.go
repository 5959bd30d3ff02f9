package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// --max-memory sets the store's byte bound (and so the TUI's, which holds no more than the store), in serve and
// proxy alike; below 1 MiB it is refused at start.
func TestMaxMemoryFlag(t *testing.T) {
	saved := storeLimits
	t.Cleanup(func() { storeLimits = saved })
	for _, args := range [][]string{
		{"serve", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture", "--ephemeral", "--no-auth"},
		{"proxy", "--upstream", "http://127.0.0.1:9/mcp", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			storeLimits = recorder.StoreOptions{}
			var stdout, stderr lockedBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			run(ctx, append(args, "--max-memory", "3"), &stdout, &stderr)
			if storeLimits.MaxBytes != 3<<20 {
				t.Errorf("the store's byte bound is %d, want 3 MiB; stderr:\n%s", storeLimits.MaxBytes, stderr.String())
			}
			code, _, errText := runCmd(t, append(args, "--max-memory", "0")...)
			if code == 0 || !strings.Contains(errText, "--max-memory must be at least 1 (MiB)") {
				t.Errorf("--max-memory 0: exit %d:\n%s", code, errText)
			}
		})
	}
}

// --capture-keep and --capture-max-size have an upper bound too: a rotation renames every kept file (math.MaxInt
// of them never ends), and a size in MiB is shifted into bytes.
func TestCaptureBoundsFlags(t *testing.T) {
	for _, bad := range [][]string{{"--capture-keep", "1001"}, {"--capture-keep", "9223372036854775807"}, {"--capture-max-size", "1048577"}} {
		code, _, errText := runCmd(t, append([]string{"serve", "--no-tui", "--addr", "127.0.0.1:0", "--ephemeral", "--no-auth"}, bad...)...)
		if code != 2 || !strings.Contains(errText, "at most") {
			t.Errorf("%v: exit %d:\n%s", bad, code, errText)
		}
	}
}
