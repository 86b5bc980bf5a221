package harvest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/privfile"
)

// The seed file carries state from one run to the next: seedSize bytes of
// generator output, mode 0600. It is mixed (credited 0 bits) into the next
// run's key, so a run after a reboot with poor sources is still
// unpredictable to anyone who has not read the file.

// CheckSeedFile reports what Harvest would refuse in the seed file at
// path: group or others having access (a *privfile.PermissionError,
// naming the chmod that fixes it), a wrong size, not a regular file, or
// an error reading it. No file yet is fine. A long-running caller checks
// before its first run so that a mistake shows at once.
func CheckSeedFile(path string) error {
	b, err := readSeedFile(path)
	clear(b)
	return err
}

// readSeedFile returns the seed file's contents, or nil and no error when
// there is none yet.
func readSeedFile(path string) ([]byte, error) {
	// Checked on the file read, not whatever the path names later; a
	// named pipe is refused without waiting for a writer.
	f, err := openRead(path, privfile.Regular)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("harvest: reading seed file: %w", err)
	}
	defer f.Close()
	// The same rule, and the same chmod hint, as for every private key.
	if err := privfile.Check(f); err != nil {
		return nil, fmt.Errorf("harvest: reading seed file: %w", err)
	}
	buf := make([]byte, seedSize+1)
	n, err := io.ReadFull(f, buf)
	if n != seedSize || err != io.ErrUnexpectedEOF {
		clear(buf)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, fmt.Errorf("harvest: reading seed file: %w", err)
		}
		return nil, fmt.Errorf("harvest: reading seed file: %s: %w, want %d bytes (remove it and a new one is made)", path, errSeedSize, seedSize)
	}
	return buf[:seedSize], nil
}

// writeSeedFile replaces the seed file, atomically and durably, with
// seedSize fresh bytes read from g (output, never the live key; with fast
// key erasure the state moves on past them).
func writeSeedFile(path string, g io.Reader) error {
	var buf [seedSize]byte
	defer clear(buf[:])
	if _, err := io.ReadFull(g, buf[:]); err != nil {
		return fmt.Errorf("harvest: reading the generator: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf[:], 0o600); err != nil {
		return fmt.Errorf("harvest: writing seed file: %w", err)
	}
	return nil
}
