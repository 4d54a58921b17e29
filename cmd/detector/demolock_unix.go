//go:build unix

package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"syscall"
)

// lockDemo takes a lock, on this machine, on the demo database at url, so
// that a second demo fails at once instead of emptying the first one's
// tables under it. The lock goes with the process.
func lockDemo(url string) (release func(), err error) {
	h := fnv.New64a()
	h.Write([]byte(url))
	path := filepath.Join(os.TempDir(), fmt.Sprintf("flowguard-demo-%x.lock", h.Sum64()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("demo: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("demo: another demo on this machine is using its " +
				"database; wait for it to end, or give this one its own with --demo_database")
		}
		return nil, fmt.Errorf("demo: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
