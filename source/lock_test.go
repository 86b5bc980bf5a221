package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLockRemovedWhileWaiting: a holder that removes the lock file of a
// targets file that does not exist (a failed Append) lets go; the run
// that was waiting on the removed file locks the new one, so that a third
// is still excluded.
func TestLockRemovedWhileWaiting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	unlockA, err := lock(context.Background(), path, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		unlockB, err := lock(context.Background(), path, 5*time.Second, true)
		if err != nil {
			t.Error(err)
			unlockB = func() {}
		}
		got <- unlockB
	}()
	time.Sleep(10 * lockPoll) // B has opened the first lock file and waits
	unlockA()                 // no targets file: the lock file goes
	unlockB := <-got
	defer unlockB()
	if _, err := os.Lstat(path + lockSuffix); err != nil {
		t.Fatalf("B holds no lock file at the path: %v", err)
	}
	if _, err := lock(context.Background(), path, 100*time.Millisecond, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("C: err = %v, want ErrLocked while B holds the lock", err)
	}
}
