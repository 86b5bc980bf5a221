// Package vectors gives tests the frames, keys and configuration files the
// original entropyshare made (testdata/entropyshare-v1 in this
// repository), whichever package's folder the test runs in.
package vectors

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var dir = sync.OnceValues(func() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testdata", "entropyshare-v1"), nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", os.ErrNotExist
		}
		d = up
	}
})

// Path returns the path of the vector file name, failing t when the
// module's root cannot be found above the working folder.
func Path(t testing.TB, name string) string {
	t.Helper()
	d, err := dir()
	if err != nil {
		t.Fatalf("vectors: no go.mod above the working folder: %v", err)
	}
	return filepath.Join(d, name)
}

// Read returns the contents of the vector file name, failing t if it
// cannot be read.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
