//go:build unix

package tunnel

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts cloudflared in its own process group, so that Stop reaches anything it started and a Ctrl-C in
// the terminal reaches mcpwatch alone (which then stops cloudflared in order).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// signalGroup sends SIGTERM (or SIGKILL) to cloudflared's process group.
func signalGroup(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}
