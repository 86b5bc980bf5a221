// Package privfile opens the files the tools read whole (keys,
// configurations, targets files, the seed file) so that no path can make
// them wait, and checks and reads those that hold secrets.
package privfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is what Open's error unwraps to for a path that names
// something other than a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading and refuses, with an *fs.PathError that
// unwraps to ErrNotRegular, anything but a regular file. It opens without
// blocking: a named pipe with no writer would otherwise hold open() past
// every timeout and signal (cron's next runs then find the lock taken),
// and checks the kind on the descriptor, not on the path.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: notRegularError{fi.Mode()}}
	}
	return f, nil
}

// notRegularError says what a path names instead of a regular file.
type notRegularError struct{ mode fs.FileMode }

func (e notRegularError) Error() string {
	is := "is not a regular file (mode " + e.mode.String() + ")"
	switch m := e.mode; {
	case m.IsDir():
		is = "is a directory"
	case m&fs.ModeNamedPipe != 0:
		is = "is a named pipe"
	case m&fs.ModeCharDevice != 0:
		is = "is a character device"
	case m&fs.ModeDevice != 0:
		is = "is a block device"
	case m&fs.ModeSocket != 0:
		is = "is a socket"
	}
	return is + "; want a regular file"
}

func (e notRegularError) Is(target error) bool { return target == ErrNotRegular }

// ErrPermissions is what every *PermissionError unwraps to.
var ErrPermissions = errors.New("a private file is open to group or others")

// PermissionError is a private file that group or others have some access
// to. Like *fs.PathError it names the file and has no package prefix: the
// callers that wrap it say what they were reading.
type PermissionError struct {
	Path string
	Mode fs.FileMode
}

func (e *PermissionError) Error() string {
	what := "lets group or others read it"
	if e.Mode.Perm()&0o044 == 0 {
		what = "gives group or others access to it"
	}
	return fmt.Sprintf("%s: mode %04o %s (fix: chmod 600 %s)", e.Path, e.Mode.Perm(), what, e.Path)
}

// Unwrap returns ErrPermissions.
func (e *PermissionError) Unwrap() error { return ErrPermissions }

// Check refuses, with a *PermissionError, an open file that group or others
// have any access to, as ssh does for private keys. It checks the open file,
// so the mode checked is the mode of the bytes read.
func Check(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &PermissionError{Path: f.Name(), Mode: fi.Mode()}
	}
	return nil
}

// maxSize bounds what Read reads: keys, seeds and the sink's
// configuration are a few kilobytes.
const maxSize = 64 << 10

// Read opens a private file with Open and reads it after Check. Errors
// name the file: an *fs.PathError, or a *PermissionError.
func Read(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := Check(f); err != nil {
		return nil, err
	}
	return ReadAll(f, maxSize)
}

// ReadAll reads f, an open file, to its end, refusing one longer than
// max bytes (the part read is cleared: it may be a secret). Errors are
// *fs.PathError naming the file.
func ReadAll(f *os.File, max int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: f.Name(), Err: err}
	}
	if len(data) > max {
		clear(data)
		return nil, &fs.PathError{Op: "read", Path: f.Name(), Err: fmt.Errorf("file is larger than %d bytes", max)}
	}
	return data, nil
}
