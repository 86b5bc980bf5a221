package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/entropyshare/entropyshare/internal/privfile"
	"golang.org/x/sys/unix"
)

// lockPoll is how often a waiting run retries the lock.
const lockPoll = 25 * time.Millisecond

// lock takes the exclusive lock that serialises every writer of the
// targets file at path: an flock on path+".lock". It waits up to wait,
// then fails with ErrLocked. The lock is released by the returned
// function, or by the kernel when the process dies, so a killed run never
// leaves a stale lock.
//
// The targets file must exist, and be a regular file, unless create is
// set (Append, which makes it): a run on a missing or mistyped path
// leaves no lock file behind. The lock file of an existing targets file
// is never removed, for a run may be waiting on it. The one removed is
// that of a targets file which does not exist when its holder lets go (an
// Append that failed to create it), and that is safe: whoever gets an
// flock checks that the file it locked is still the one at the path, and
// starts again if not. The lock file is opened with O_NOFOLLOW: a
// symbolic link put in its place is refused, not followed.
func lock(ctx context.Context, path string, wait time.Duration, create bool) (unlock func(), err error) {
	if !create {
		if err := checkExists(path); err != nil {
			return nil, err
		}
	}
	lockPath := path + lockSuffix
	deadline := time.Now().Add(wait)
	for {
		f, err := openLock(lockPath)
		if err != nil {
			return nil, err
		}
		err = waitFlock(ctx, f, lockPath, wait, deadline)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same, err := isAt(f, lockPath); err != nil || !same {
			// Removed (or replaced) by the holder we waited for: this
			// flock excludes nobody. Lock the file now at the path.
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("source: locking %s: %w", lockPath, err)
			}
			continue
		}
		return func() {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				os.Remove(lockPath)
			}
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		}, nil
	}
}

// checkExists returns a configuration error unless path names a regular
// file (through symbolic links).
func checkExists(path string) error {
	f, err := privfile.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &fileError{Path: path, Index: -1, Err: err}
	}
	return f.Close()
}

func openLock(lockPath string) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("source: lock file %s is a symbolic link; not following it (remove it if you did not make it)", lockPath)
	}
	if err != nil {
		return nil, fmt.Errorf("source: lock file: %w", err)
	}
	return f, nil
}

// waitFlock takes f's flock, polling until deadline.
func waitFlock(ctx context.Context, f *os.File, lockPath string, wait time.Duration, deadline time.Time) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("source: locking %s: %w", lockPath, err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w (%s, waited %s)", ErrLocked, lockPath, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(lockPoll, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// isAt reports whether f is the file now at path.
func isAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}
