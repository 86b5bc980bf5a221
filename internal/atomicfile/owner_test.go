package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileOwned(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "seed")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// -1, -1: the writer's own, as WriteFile.
	if err := WriteFileOwned(p, []byte("new"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if b, _ := os.ReadFile(p); string(b) != "new" || fi.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() {
		t.Fatalf("contents %q, mode %04o, uid %d", b, fi.Mode().Perm(), st.Uid)
	}
	if os.Geteuid() != 0 {
		// Giving a file away needs root: the chown fails and path stays.
		if err := WriteFileOwned(p, []byte("newer"), 0o600, 4242, 4242); err == nil {
			t.Fatal("chown to another user succeeded without root")
		}
		if b, _ := os.ReadFile(p); string(b) != "new" {
			t.Fatalf("a failed write replaced the file: %q", b)
		}
		t.Skip("giving the file to another user needs root")
	}
	if err := WriteFileOwned(p, []byte("newer"), 0o600, 4242, 4243); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(p)
	st = fi.Sys().(*syscall.Stat_t)
	if st.Uid != 4242 || st.Gid != 4243 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("owner %d:%d mode %04o, want 4242:4243 0600", st.Uid, st.Gid, fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
