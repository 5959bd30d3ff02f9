//go:build !linux && !darwin

package control

import (
	"fmt"
	"net"
	"runtime"
)

// peerUID cannot tell the peer's user on this system: every connection is refused.
func peerUID(*net.UnixConn) (int, error) {
	return -1, fmt.Errorf("peer credentials are not available on %s", runtime.GOOS)
}
