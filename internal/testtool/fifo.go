package testtool

import (
	"path/filepath"
	"syscall"
	"testing"
)

// Fifo makes a named pipe called name in a folder of the test's and
// returns its path; nothing writes to it. Where mkfifo fails the test is
// skipped.
func Fifo(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		tb.Skipf("mkfifo: %v", err)
	}
	return p
}
