package harvest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/privfile"
)

// The seed file carries state from one run to the next: seedSize bytes of
// generator output, mode 0600. It is mixed (credited 0 bits) into the next
// run's key, so a run after a reboot with poor sources is still
// unpredictable to anyone who has not read the file.

// readSeedFile returns the seed file's contents, or nil and no error when
// there is none yet. A file that group or others can read, or one that
// does not hold exactly seedSize bytes, is an error.
func readSeedFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("harvest: seed file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat() // the file read, not whatever the path names later
	if err != nil {
		return nil, fmt.Errorf("harvest: seed file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("harvest: seed file %s is not a regular file", path)
	}
	// The same rule, and the same chmod hint, as for every private key.
	if err := privfile.Check(f); err != nil {
		return nil, fmt.Errorf("harvest: seed file: %w: %w", errSeedPermissions, err)
	}
	buf := make([]byte, seedSize+1)
	n, err := io.ReadFull(f, buf)
	if n != seedSize || err != io.ErrUnexpectedEOF {
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, fmt.Errorf("harvest: seed file: %w", err)
		}
		clear(buf)
		return nil, fmt.Errorf("%w: %s is not %d bytes; remove it and a new one is made", errSeedSize, path, seedSize)
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
		return fmt.Errorf("harvest: seed file: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf[:], 0o600); err != nil {
		return fmt.Errorf("harvest: writing seed file: %w", err)
	}
	return nil
}
