// Package atomicfile replaces a file atomically: a reader sees the old content or the new, never a mix, and a
// write that fails leaves the old file as it was and no temporary file behind. It is a leaf: it imports only the
// standard library, so that the OAuth store and the exporters share it.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// Error is a failure to create, write or rename the file (not the caller's writer's).
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return "write " + e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Write writes path through write: a temporary file in the same directory is written (buffered), given perm,
// synced and renamed over path, then the directory is synced (best effort). An error from write is returned as it
// is; the others are an *Error.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return &Error{path, err}
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return &Error{path, err}
	}
	bw := bufio.NewWriterSize(tmp, 1<<16)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return &Error{path, err}
	}
	if err = tmp.Sync(); err != nil {
		return &Error{path, err}
	}
	if err = tmp.Close(); err != nil {
		return &Error{path, err}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return &Error{path, err}
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: some filesystems refuse to sync a directory
		d.Close()
	}
	return nil
}

// WriteFile is Write with the content in hand.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
