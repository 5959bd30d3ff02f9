package tunnel

import "syscall"

// setParentDeathSignal makes the kernel send cloudflared SIGTERM if mcpwatch dies without stopping it (SIGKILL, a
// crash): no orphan tunnel keeps forwarding to a dead port.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
