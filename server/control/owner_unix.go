//go:build unix

package control

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwnDir reports an error unless dir is a directory that belongs to this process's user.
func checkOwnDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.IsDir() || !ok || int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%s is not a directory of this user's", dir)
	}
	return nil
}
