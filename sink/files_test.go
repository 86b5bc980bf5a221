package sink

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

// A state file that is a symbolic link is written through it: made where
// it leads at the first start (the link dangling until then), remade
// larger there, and the link stays a link.
func TestStateThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "var"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "sink.state")
	target := filepath.Join(dir, "var", "sink.state")
	if err := os.Symlink(filepath.Join("var", "sink.state"), link); err != nil {
		t.Fatal(err)
	}
	fps := make([]fingerprint, 100)
	floors := make([]int64, 100)
	for i := range fps {
		fps[i][0], fps[i][1] = byte(i), 1
		floors[i] = int64(i)
	}
	isLink := func(when string) {
		t.Helper()
		fi, err := os.Lstat(link)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("%s: %s is no longer a symbolic link (%v, %v)", when, link, fi.Mode(), err)
		}
		if fi, err := os.Stat(target); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s: no state file at the link's target: %v", when, err)
		}
	}
	s, err := openState(link, fps[:1], floors[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.write([]entry{{fp: fps[0], counter: 7}}); err != nil {
		t.Fatal(err)
	}
	s.close()
	isLink("made")
	// A hundred signers do not fit one block: the file is remade larger.
	s, err = openState(link, fps, floors)
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	isLink("remade larger")
	l, err := readState(link)
	if err != nil || len(l.entries) != 100 || l.entries[0].counter != 7 || l.entries[99].counter != 99 {
		t.Fatalf("read through the link: %d entries, %v", len(l.entries), err)
	}
	if fi, _ := os.Stat(target); fi.Size() != int64(2*slotSizeFor(100)) {
		t.Fatalf("target is %d bytes, want %d", fi.Size(), 2*slotSizeFor(100))
	}
	// A loop is an error, not a hang.
	loop := filepath.Join(dir, "loop")
	os.Symlink("loop", loop)
	if _, err := openState(loop, fps[:1], floors[:1]); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Fatalf("link loop: %v", err)
	}
}

// A state file or configuration owned by another user than root and the
// sink's is refused, naming the chown that fixes it.
func TestForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, err := New(cfg, Options{pool: &recordingPool{}})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown(t.Context())
	if err := os.Chown(cfg.StatePath(), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{pool: &recordingPool{}})
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, privfile.ErrOwner) || !strings.Contains(err.Error(), "chown root "+cfg.StatePath()) {
		t.Fatalf("state owned by uid 4242: %v", err)
	}
	// status only reads: it does not ask who owns the state file.
	if _, err := Status(cfg); err != nil {
		t.Fatalf("status: %v", err)
	}
	if err := os.Chown(cfg.path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(cfg.path)
	if !errors.As(err, &ce) || !errors.Is(err, privfile.ErrOwner) ||
		err.Error() != "sink: "+cfg.path+": owned by uid 4242, not by root or uid 0 (root), which this runs as (fix: chown root "+cfg.path+", or run as 4242)" {
		t.Fatalf("configuration owned by uid 4242: %v", err)
	}
}
