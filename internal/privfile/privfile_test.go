package privfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestModes(t *testing.T) {
	for _, c := range []struct {
		mode os.FileMode
		want string // "" for accepted
	}{
		{0o600, ""},
		{0o400, ""},
		{0o700, ""},
		{0o644, "mode 0644 lets group or others read it (fix: chmod 600 PATH)"},
		{0o640, "mode 0640 lets group or others read it (fix: chmod 600 PATH)"},
		{0o604, "mode 0604 lets group or others read it (fix: chmod 600 PATH)"},
		{0o610, "mode 0610 gives group or others access to it (fix: chmod 600 PATH)"},
		{0o602, "mode 0602 gives group or others access to it (fix: chmod 600 PATH)"},
	} {
		p := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(p, []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
		data, err := Read(p)
		if c.want == "" {
			if err != nil || string(data) != "key" {
				t.Errorf("%04o: %q, %v", c.mode, data, err)
			}
			continue
		}
		var pe *PermissionError
		want := p + ": " + c.want[:len(c.want)-len("PATH)")] + p + ")"
		if !errors.As(err, &pe) || !errors.Is(err, ErrPermissions) || pe.Path != p || err.Error() != want || data != nil {
			t.Errorf("%04o: %v, want %q", c.mode, err, want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *fs.PathError
	if _, err := Read(big); !errors.As(err, &pe) || pe.Path != big {
		t.Errorf("too large: %v", err)
	}
	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, make([]byte, maxSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(exact); err != nil || len(b) != maxSize {
		t.Errorf("%d bytes: %v", maxSize, err)
	}
}

// A file owned by another user than root and the process's is refused,
// naming the chown that fixes it; root's and one's own are not.
func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() error {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return CheckOwner(f)
	}
	if err := check(); err != nil {
		t.Fatalf("root's file: %v", err)
	}
	if err := os.Chown(p, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	err := check()
	var oe *OwnerError
	if !errors.As(err, &oe) || !errors.Is(err, ErrOwner) || oe.UID != 4242 ||
		err.Error() != p+": owned by uid 4242, not by root or uid 0 (root), which this runs as (fix: chown root "+p+", or run as 4242)" {
		t.Fatalf("foreign owner: %v", err)
	}
}

// Open and Read refuse what is not a regular file, naming what it is; a
// named pipe with no writer is refused at once, not waited on.
func TestNotRegular(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{pipe, pipe + ": is a named pipe; want a regular file"},
		{dir, dir + ": is a directory; want a regular file"},
		{"/dev/null", "/dev/null: is a character device; want a regular file"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Read(c.path); done <- err }()
		select {
		case err := <-done:
			var pe *fs.PathError
			if !errors.Is(err, ErrNotRegular) || !errors.As(err, &pe) || pe.Path != c.path || !strings.HasSuffix(err.Error(), c.want) {
				t.Errorf("%s: %v, want %q", c.path, err, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Read is waiting", c.path)
		}
	}
}
