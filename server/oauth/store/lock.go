package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// errLocked is what tryLock returns when another open file description holds the lock.
var errLocked = errors.New("locked")

// lockFile is the exclusive advisory lock that keeps two mcpwatch processes off one state file: each appends to
// and compacts the log, so the second would silently drop what the first registered. The lock is on a file
// beside the state ("state.json.lock"), not on the state itself, because a compaction replaces the state file
// (a new inode, unlocked). The lock file holds the owner's pid, for the error message; it is left in
// place when released (removing it would race with a process that just opened it).
type lockFile struct{ f *os.File }

// acquireLock takes the lock for the state at path, or says who holds it and the ways out.
func acquireLock(path string) (*lockFile, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("oauth state lock %s: %w (choose another file with --state, or run with --ephemeral)", name, err)
	}
	if err := tryLock(f); err != nil {
		owner := ""
		if b, rerr := os.ReadFile(name); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				owner = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("oauth state %s is in use by another mcpwatch%s: two instances on one state file would overwrite each other's registrations; stop the other one, or give this one its own file with --state PATH, or run it with --ephemeral", path, owner)
		}
		return nil, fmt.Errorf("oauth state lock %s: %w (choose another file with --state, or run with --ephemeral)", name, err)
	}
	// Best effort: the pid only improves the message another instance prints.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &lockFile{f: f}, nil
}

// release drops the lock (closing the file releases it).
func (l *lockFile) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
