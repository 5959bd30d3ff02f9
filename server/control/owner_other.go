//go:build !unix

package control

import (
	"fmt"
	"runtime"
)

// checkOwnDir: without Unix file ownership there is no control socket (toggles still work at start and in the TUI).
func checkOwnDir(string) error {
	return fmt.Errorf("not available on %s (toggles still switch at start and in the TUI)", runtime.GOOS)
}
