package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a waiting run retries the lock.
const lockPoll = 25 * time.Millisecond

// lock takes the exclusive lock that serialises every writer of the
// targets file at path: an flock on path+".lock", a file that is created
// once and never removed (removing it would let two runs lock two
// different files). It waits up to wait, then fails with ErrLocked. The
// lock is released by the returned function, or by the kernel when the
// process dies, so a killed run never leaves a stale lock.
func lock(ctx context.Context, path string, wait time.Duration) (unlock func(), err error) {
	lockPath := path + lockSuffix
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("source: lock file: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("source: locking %s: %w", lockPath, err)
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w (%s, waited %s)", ErrLocked, lockPath, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(min(lockPoll, time.Until(deadline)+time.Millisecond)):
		}
	}
}
