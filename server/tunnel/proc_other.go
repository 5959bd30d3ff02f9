//go:build !unix

package tunnel

import "os/exec"

func setProcAttr(*exec.Cmd) {}

// signalGroup ends cloudflared (no process groups here: the process alone).
func signalGroup(cmd *exec.Cmd, kill bool) { _ = cmd.Process.Kill() }
