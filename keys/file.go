package keys

import (
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/privfile"
)

// readPrivateFile reads a file that holds a private key, after
// privfile.Check. A public key given by mistake is named as such (with the
// file wanted) rather than refused for its mode: chmod 600 would not help.
func readPrivateFile(path string, isPublic func([]byte) bool) ([]byte, error) {
	f, err := privfile.Open(path)
	if err != nil {
		return nil, fileErr("reading", path, err)
	}
	defer f.Close()
	if err := privfile.Check(f); err != nil {
		if !errors.Is(err, privfile.ErrPermissions) {
			return nil, fileErr("reading", path, err)
		}
		// A public key is not secret: reading one to say so costs nothing.
		if data, rerr := readAllLimited(f, path); rerr == nil && (isPublic(data) || strings.HasSuffix(path, ".pub")) {
			return nil, &FileError{"reading", path, fmt.Errorf("%w: it holds a public key; give the private key%s", ErrWrongKind, instead(path, ".pub", ".key"))}
		}
		return nil, fmt.Errorf("keys: reading private key %w", err) // it names the file
	}
	return readAllLimited(f, path)
}

// readPublicFile reads a file that holds a public key. A file that looks
// like a private key is refused: a private key copied where public keys
// are kept (a targets file, a 0644 folder) is a key leaked. For
// Curve25519 keys, 32 random bytes either way, the signs are a mode that
// only the owner may read together with a name ending in .key.
func readPublicFile(path string, isPrivate func([]byte) bool) ([]byte, error) {
	f, err := privfile.Open(path)
	if err != nil {
		return nil, fileErr("reading", path, err)
	}
	defer f.Close()
	data, err := readAllLimited(f, path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fileErr("reading", path, err)
	}
	ownerOnly := fi.Mode().Perm()&0o077 == 0
	if isPrivate(data) || ownerOnly && strings.HasSuffix(path, ".key") {
		clear(data)
		return nil, &FileError{"reading", path, fmt.Errorf("%w: it looks like a private key (mode %04o); give its public key%s", ErrWrongKind, fi.Mode().Perm(), instead(path, ".key", ".pub"))}
	}
	return data, nil
}

// instead suggests the file with suffix to in place of from, if path ends
// in from.
func instead(path, from, to string) string {
	if base, ok := strings.CutSuffix(path, from); ok {
		return ", " + base + to
	}
	return ""
}

// maxKeyFile bounds what a key loader reads: an RSA-8192 PEM key is under
// 7 KB, so anything much larger is not a key.
const maxKeyFile = 64 << 10

func readAllLimited(f *os.File, path string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fileErr("reading", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, &FileError{"reading", path, fmt.Errorf("%w: file is larger than %d bytes", ErrFormat, maxKeyFile)}
	}
	return data, nil
}

func fileErr(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &FileError{op, path, err}
}

func isRSAPublic(data []byte) bool {
	_, err := ParseRSAPublic(data)
	return err == nil
}

func isRSAPrivate(data []byte) bool {
	k, err := ParseRSAPrivate(data)
	if k != nil {
		clear(k.D.Bits())
	}
	return err == nil
}

func isCurve25519Private(data []byte) bool { return hasPEM(data, pemCurve25519Private) }
func isCurve25519Public(data []byte) bool  { return hasPEM(data, pemCurve25519Public) }

func hasPEM(data []byte, typ string) bool {
	b, _ := pem.Decode(data)
	return b != nil && b.Type == typ
}

// LoadRSAPrivate reads an RSA signer key from a file with safe permissions.
func LoadRSAPrivate(path string) (*rsa.PrivateKey, error) {
	data, err := readPrivateFile(path, isRSAPublic)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k, err := ParseRSAPrivate(data)
	if err != nil {
		return nil, &FileError{"reading", path, err}
	}
	return k, nil
}

// LoadRSAPublic reads an RSA public key from a file.
func LoadRSAPublic(path string) (*rsa.PublicKey, error) {
	data, err := readPublicFile(path, isRSAPrivate)
	if err != nil {
		return nil, err
	}
	k, err := ParseRSAPublic(data)
	if err != nil {
		return nil, &FileError{"reading", path, err}
	}
	return k, nil
}

// LoadCurve25519Private reads a Curve25519 private key from a file with
// safe permissions.
func LoadCurve25519Private(path string) (*[Curve25519Size]byte, error) {
	data, err := readPrivateFile(path, func(d []byte) bool { return isCurve25519Public(d) || isRSAPublic(d) })
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k, err := ParseCurve25519Private(data)
	if err != nil {
		return nil, &FileError{"reading", path, err}
	}
	return k, nil
}

// LoadCurve25519Public reads a Curve25519 public key from a file.
func LoadCurve25519Public(path string) (*[Curve25519Size]byte, error) {
	data, err := readPublicFile(path, isCurve25519Private)
	if err != nil {
		return nil, err
	}
	k, err := ParseCurve25519Public(data)
	if err != nil {
		return nil, &FileError{"reading", path, err}
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
			return fileErr("writing", path, err)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &FileError{"writing", path, fmt.Errorf("%w: refusing to overwrite a key (use --force to replace it)", ErrExists)}
		}
		return fileErr("writing", path, err)
	}
	// The umask may have taken bits away; it never adds any, so a private
	// file is at most 0600. Set the public mode exactly.
	if !private {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return fileErr("writing", path, err)
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fileErr("writing", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fileErr("writing", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fileErr("writing", path, err)
	}
	return nil
}
