package keys

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/privfile"
)

// readPrivateFile reads a file that holds a private key, after
// privfile.Check.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	defer f.Close()
	if err := privfile.Check(f); err != nil {
		if errors.Is(err, privfile.ErrPermissions) {
			return nil, fmt.Errorf("keys: %w", err) // it names the file
		}
		return nil, fileErr(path, err)
	}
	return readAllLimited(f, path)
}

// maxKeyFile bounds what a key loader reads: an RSA-8192 PEM key is under
// 7 KB, so anything much larger is not a key.
const maxKeyFile = 64 << 10

func readAllLimited(f *os.File, path string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fileErr(path, err)
	}
	if len(data) > maxKeyFile {
		return nil, &FileError{path, fmt.Errorf("%w: file is larger than %d bytes", ErrFormat, maxKeyFile)}
	}
	return data, nil
}

func readPublicFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	defer f.Close()
	return readAllLimited(f, path)
}

func fileErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &FileError{path, err}
}

// LoadRSAPrivate reads an RSA signer key from a file with safe permissions.
func LoadRSAPrivate(path string) (*rsa.PrivateKey, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k, err := ParseRSAPrivate(data)
	if err != nil {
		return nil, &FileError{path, err}
	}
	return k, nil
}

// LoadRSAPublic reads an RSA public key from a file.
func LoadRSAPublic(path string) (*rsa.PublicKey, error) {
	data, err := readPublicFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseRSAPublic(data)
	if err != nil {
		return nil, &FileError{path, err}
	}
	return k, nil
}

// LoadCurve25519Private reads a Curve25519 private key from a file with
// safe permissions.
func LoadCurve25519Private(path string) (*[Curve25519Size]byte, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k, err := ParseCurve25519Private(data)
	if err != nil {
		return nil, &FileError{path, err}
	}
	return k, nil
}

// LoadCurve25519Public reads a Curve25519 public key from a file.
func LoadCurve25519Public(path string) (*[Curve25519Size]byte, error) {
	data, err := readPublicFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseCurve25519Public(data)
	if err != nil {
		return nil, &FileError{path, err}
	}
	return k, nil
}

// WriteFile writes a key file. Private key files get mode 0600, public ones
// 0644. Without force an existing file is never touched (O_CREATE|O_EXCL);
// with force it is replaced atomically, keeping no trace of its old mode.
func WriteFile(path string, data []byte, private, force bool) error {
	perm := os.FileMode(0o644)
	if private {
		perm = 0o600
	}
	if force {
		if err := atomicfile.WriteFile(path, data, perm); err != nil {
			return fileErr(path, err)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &FileError{path, fmt.Errorf("%w: refusing to overwrite a key (use --force to replace it)", ErrExists)}
		}
		return fileErr(path, err)
	}
	// The umask may have taken bits away; it never adds any, so a private
	// file is at most 0600. Set the public mode exactly.
	if !private {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return fileErr(path, err)
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fileErr(path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fileErr(path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fileErr(path, err)
	}
	return nil
}
