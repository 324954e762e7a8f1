// Package statefile writes the small files that keys and state live in: mode 0600,
// whole or not at all, in a directory made 0700 when missing.
package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotPrivate: a key file that group or other users may read, so it is refused.
var ErrNotPrivate = errors.New("key file readable by other users")

// CheckPrivate refuses a key file at path whose mode fi gives that group or other
// users may read or write (0600 and 0400 pass), saying how to fix it.
func CheckPrivate(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: mode %04o: %w; if nobody else has seen it, run: chmod 600 %s", path, perm, ErrNotPrivate, path)
	}
	return nil
}

// Create writes data to path only if no file is there yet, so a key that bridge lines
// were handed out with is never overwritten; created is false when one was. The file
// appears whole or not at all: it is written under a temporary name and hard-linked,
// which unlike a rename fails when path exists.
func Create(path string, data []byte) (created bool, err error) {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return true, nil
}

// Replace writes data to path, replacing what is there, atomically (a rename).
func Replace(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeTemp writes data, synced, to a new mode-0600 file beside path.
func writeTemp(path string, data []byte) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return f.Name(), nil
}

// syncDir makes a new name in dir survive a crash; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
