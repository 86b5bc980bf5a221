package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/renameio/v2"
)

// TestWriteFile checks WriteFile and Replace alike: they differ only in
// the folder's fsync, which nothing short of a power cut can observe.
func TestWriteFile(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{"WriteFile": WriteFile, "Replace": Replace} {
		t.Run(name, func(t *testing.T) { testWrite(t, write) })
	}
}

func testWrite(t *testing.T, write func(string, []byte, os.FileMode) error) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := write(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600 whatever the old file had", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("contents %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// A folder that does not exist is an error, and creates nothing.
	if err := write(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

// RemoveTemp removes what a killed writer leaves (renameio's pending
// files) and nothing else.
func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "targets.json")
	keep := []string{"targets.json", "targets.json.lock", ".targets.json", ".targets.jsonx1", ".targets.json12.bak", ".other.json5", "other.json"}
	for _, name := range keep {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".targets.json77"), 0o700); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".targets.json77")
	for range 2 {
		pending, err := renameio.NewPendingFile(p, renameio.WithTempDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer pending.Close()
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(keep)+2 {
		t.Fatalf("setup: %v", entries)
	}
	if err := RemoveTemp(p); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Errorf("left %v, want %v", left, keep)
	}
}
