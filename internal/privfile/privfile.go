// Package privfile checks and reads files that hold secrets: private keys,
// the sink's configuration, the seed file.
package privfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

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

// Read reads a private file after Check. Errors name the file: an
// *fs.PathError, or a *PermissionError.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := Check(f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(data) > maxSize {
		clear(data)
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("file is larger than %d bytes", maxSize)}
	}
	return data, nil
}
