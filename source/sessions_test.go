package source

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A sessions file is read up to maxSessionsFile: one with two hundred
// entries of a couple of kilobytes each (a board with that many https://
// targets) is used, not refused as too large; a larger one is refused
// with a warning and costs full handshakes.
func TestSessionsFileSize(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1700000000, 0)
	entries := map[string]sessionEntry{}
	for i := range 200 {
		entries[fmt.Sprint("target", i)] = sessionEntry{Ticket: make([]byte, 512), State: make([]byte, 1536), Stored: now.Unix()}
	}
	data, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "targets.json"+sessionsSuffix)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := loadSessions(path, func() time.Time { return now })
	if err != nil || len(f.entries) != len(entries) {
		t.Fatalf("a %d-byte file: %d entries, %v", len(data), len(f.entries), err)
	}

	if err := os.WriteFile(path, make([]byte, maxSessionsFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = loadSessions(path, func() time.Time { return now })
	if err == nil || !strings.Contains(err.Error(), "larger than") || len(f.entries) != 0 {
		t.Fatalf("a file over the bound: %d entries, %v", len(f.entries), err)
	}
}
