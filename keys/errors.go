package keys

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

var (
	// ErrKeySize: an RSA key size outside [MinRSABits, MaxRSABits].
	ErrKeySize = errors.New("keys: unsupported RSA key size")
	// ErrFormat: the bytes are not a key of the kind expected.
	ErrFormat = errors.New("keys: not a key of the expected kind")
	// ErrPermissions: a file holding a private key is readable by group or others.
	ErrPermissions = errors.New("keys: private key file is readable by others")
	// ErrExists: refusing to overwrite an existing key file.
	ErrExists = errors.New("keys: file exists")
)

// FileError names the file an error is about.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("keys: %s: %s", e.Path, strings.TrimPrefix(e.Err.Error(), "keys: "))
}
func (e *FileError) Unwrap() error { return e.Err }

// PermissionError says which file is too open and how to fix it.
type PermissionError struct {
	Path string
	Mode os.FileMode
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("keys: %s holds a private key and has mode %04o, readable by group or others (fix: chmod 600 %s)",
		e.Path, e.Mode.Perm(), e.Path)
}

func (e *PermissionError) Unwrap() error { return ErrPermissions }
