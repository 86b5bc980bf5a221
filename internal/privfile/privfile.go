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
	"strings"
	"syscall"
)

// ErrNotRegular is what the error of Open, or of OpenKind, unwraps to for
// a path that names a file of a kind not wanted there.
var ErrNotRegular = errors.New("not a regular file")

// Kinds is a set of the kinds of file a path may be wanted to name.
type Kinds uint8

const (
	Regular Kinds = 1 << iota
	CharDevice
	NamedPipe
)

// String names the kinds as a message does: "a regular file, a character
// device or a named pipe".
func (k Kinds) String() string {
	var names []string
	for _, n := range []struct {
		k    Kinds
		name string
	}{{Regular, "a regular file"}, {CharDevice, "a character device"}, {NamedPipe, "a named pipe"}} {
		if k&n.k != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return strings.Join(names, "")
}

// kindOf returns the one kind mode is, or 0 for any other.
func kindOf(mode fs.FileMode) Kinds {
	switch {
	case mode.IsRegular():
		return Regular
	case mode&fs.ModeCharDevice != 0:
		return CharDevice
	case mode&fs.ModeNamedPipe != 0:
		return NamedPipe
	}
	return 0
}

// Open opens path for reading and refuses, with an *fs.PathError that
// unwraps to ErrNotRegular, anything but a regular file. It is OpenKind
// for Regular.
func Open(path string) (*os.File, error) {
	return OpenKind(path, Regular)
}

// OpenKind opens path for reading and refuses, with an *fs.PathError that
// unwraps to ErrNotRegular, a file of a kind not in want. It opens
// without blocking: a named pipe with no writer would otherwise hold
// open() past every timeout and signal (cron's next runs then find the
// lock taken), and checks the kind on the descriptor, not on the path.
// The descriptor stays non-blocking.
func OpenKind(path string, want Kinds) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if kindOf(fi.Mode())&want == 0 {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: kindError{fi.Mode(), want}}
	}
	return f, nil
}

// kindError says what a path names instead of a kind wanted.
type kindError struct {
	mode fs.FileMode
	want Kinds
}

func (e kindError) Error() string {
	is := "is not a regular file (mode " + e.mode.String() + ")"
	switch m := e.mode; {
	case m.IsRegular():
		is = "is a regular file"
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
	return is + "; want " + e.want.String()
}

func (e kindError) Is(target error) bool { return target == ErrNotRegular }

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
