package source

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRemove: removing by Name or Address keeps the other entries and
// their unknown fields and the file's mode; an unknown or ambiguous name,
// or a held lock, changes nothing.
func TestRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	data := `[
	{"Address": "a:1", "Public": "` + goodPub + `", "Name": "a", "Keep": 1},
	{"Address": "b:1", "Public": "` + goodPub + `", "Name": "dup"},
	{"Address": "c:1", "Public": "` + goodPub + `", "Name": "dup", "Mine": {"x": true}}
]`
	if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	for _, tc := range []struct {
		name string
		want error
		text string
	}{
		{"nosuch", ErrNoSuchTarget, `no entry has the Name or Address "nosuch"`},
		{"dup", ErrConfig, `"dup" names 2 entries (1, 2)`},
		{"", ErrNoSuchTarget, ""},
	} {
		before, _ := os.ReadFile(path)
		_, err := Remove(context.Background(), path, tc.name, time.Second)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("Remove(%q) = %v", tc.name, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
			t.Errorf("Remove(%q) changed the file", tc.name)
		}
	}
	unlock, err := lock(context.Background(), path, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(context.Background(), path, "a", 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("locked: %v", err)
	}
	unlock()

	got, err := Remove(context.Background(), path, "b:1", time.Second)
	if err != nil || got.Address != "b:1" {
		t.Fatalf("Remove(b:1) = %+v, %v", got, err)
	}
	if _, err := Remove(context.Background(), path, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	ts, err := List(context.Background(), path, time.Second)
	if err != nil || len(ts.Entries) != 1 || ts.Entries[0].Address != "c:1" || compact(ts.Entries[0].extra["Mine"]) != `{"x":true}` {
		t.Fatalf("after removing two: %v %+v", err, ts)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode())
	}

	missing := filepath.Join(t.TempDir(), "none.json")
	if _, err := Remove(context.Background(), missing, "a", time.Second); !errors.Is(err, ErrConfig) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := List(context.Background(), missing, time.Second); !errors.Is(err, ErrConfig) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := os.Lstat(missing + lockSuffix); !os.IsNotExist(err) {
		t.Error("lock file made for a missing file")
	}
}
