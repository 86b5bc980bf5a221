package tpm

import (
	"errors"
	"fmt"
	"strings"
)

// Reasons, for errors.Is. Every error the package returns is an *Error
// wrapping one of these or the cause it met (a TPM response code, a
// network error).
var (
	// ErrNoTPM: nothing answers at the device (no such device file, or
	// no simulator listening at the address).
	ErrNoTPM = errors.New("no TPM")
	// ErrNoKey: no object at the persistent handle.
	ErrNoKey = errors.New("no key at this handle")
	// ErrKeyMismatch: the key at the handle is not the one the reference
	// file names (its public key's fingerprint differs).
	ErrKeyMismatch = errors.New("the key at this handle is not the one the reference file names")
	// ErrHandleInUse: creating a key at a handle that already holds one.
	ErrHandleInUse = errors.New("handle already holds a key")
	// ErrHandle: a handle outside the owner's persistent range.
	ErrHandle = errors.New("not an owner persistent handle (0x81000000 to 0x817fffff)")
	// ErrKeySize: a key size this package does not make, or that the TPM
	// does not support.
	ErrKeySize = errors.New("unsupported RSA key size")
	// ErrNotSigner: the object at the handle is not an RSA-PSS/SHA-256
	// signing key.
	ErrNotSigner = errors.New("not an RSA-PSS SHA-256 signing key")
	// ErrReference: the bytes are not a TPM key reference.
	ErrReference = errors.New("not a TPM key reference")
)

// Error names the TPM, the handle and the reference file an error is
// about, those that are known.
type Error struct {
	Path   string // reference file
	Device string
	Handle uint32 // 0 when the error is about no handle
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tpm: ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	if e.Device != "" {
		b.WriteString(e.Device + ": ")
	}
	if e.Handle != 0 {
		fmt.Fprintf(&b, "handle %#x: ", e.Handle)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
