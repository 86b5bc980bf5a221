//go:build linux

package sink

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData makes a state write durable with fdatasync: the file's size and
// blocks never change once it is made, so its data is all there is to
// flush (fsync would commit its modification time to the journal too).
func syncData(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
