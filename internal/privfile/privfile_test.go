package privfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
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
