package keys

import (
	"errors"
	"fmt"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

var (
	// ErrKeySize: an RSA key size outside [MinRSABits, MaxRSABits].
	ErrKeySize = errors.New("keys: unsupported RSA key size")
	// ErrFormat: the bytes are not a key of the kind expected.
	ErrFormat = errors.New("keys: not a key of the expected kind")
	// ErrPermissions: a file holding a private key is open to group or
	// others. The error is a *privfile.PermissionError, which names the
	// file and the chmod that fixes it.
	ErrPermissions = privfile.ErrPermissions
	// ErrWrongKind: a public key where a private one is wanted, or the
	// reverse.
	ErrWrongKind = errors.New("keys: wrong kind of key file")
	// ErrExists: refusing to overwrite an existing key file.
	ErrExists = errors.New("keys: file exists")
)

// FileError names the file an error is about and what was being done.
// Err carries the package prefix.
type FileError struct {
	Op   string // "reading" or "writing"
	Path string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}
func (e *FileError) Unwrap() error { return e.Err }
