package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStateInUse: two mcpwatch processes on one state file would each rewrite the whole file and drop the other's
// registrations, so the second stops at start, naming the file, the pid that holds it and the ways out; once the
// first has stopped, the second starts.
func TestStateInUse(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	first := Start(t, "serve", "--state", state)
	second := Command("serve", "--addr", "127.0.0.1:0", "--state", state)
	second.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	res := RunCmd(t, 30*time.Second, second)
	for _, want := range []string{"oauth state " + state + " is in use by another mcpwatch", fmt.Sprintf("(pid %d)", first.cmd.Process.Pid),
		"--state PATH", "--ephemeral"} {
		if res.Code != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("second instance: exit %d, want 1 saying %q\n%s", res.Code, want, res.Stderr)
		}
	}
	first.Stop()
	Start(t, "serve", "--state", state).Stop()
}
