//go:build unix && !linux

package tunnel

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
