package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestNoHTMLEscapes: the targets file a run writes holds LastError, Name
// and unknown fields as written, ">" and "&" included, not \u003e.
func TestNoHTMLEscapes(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.Slow, pub, sourcetest.WithDelay(5*time.Second))
	targets := filepath.Join(dir, "targets.json")
	// By hand: json.Marshal, which sourcetest.WriteTargets uses, escapes.
	entry := fmt.Sprintf(`[{"Address": %q, "Public": %q, "Name": "<vps&1>", "Note": "a -> b"}]`,
		s.Addr, base64.StdEncoding.EncodeToString(s.Public[:]))
	if err := os.WriteFile(targets, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--timeout", "200ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errs)
	}
	data, err := os.ReadFile(targets)
	if err != nil {
		t.Fatal(err)
	}
	// A timed-out read says "read tcp 127.0.0.1:PORT->127.0.0.1:PORT".
	for _, want := range []string{`"Name": "<vps&1>"`, `"Note": "a -> b"`, `->127.0.0.1:`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("file lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), `\u00`) {
		t.Errorf("file has HTML escapes:\n%s", data)
	}
}

// TestNoLockLeft: a run on a targets file that does not exist, or is not
// a regular file (a named pipe without a writer is refused, not waited
// on), leaves no lock file; a symbolic link where the lock file goes
// is not followed.
func TestNoLockLeft(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"nosuch.json", "no such file"},
		{"nodir/targets.json", "no such file"},
		{"folder", "is a directory; want a regular file"},
		{"pipe", "is a named pipe; want a regular file"}, // opening it must not wait for a writer
	} {
		path := filepath.Join(dir, tc.name)
		code, _, errs := run(t, testEnv(), "-k", key, "-t", path)
		if code != 2 || !strings.Contains(errs, tc.want) || strings.Contains(errs, "lock") {
			t.Errorf("%s: exit %d, %q; want 2 and %q", tc.name, code, errs, tc.want)
		}
		if _, err := os.Lstat(path + ".lock"); !os.IsNotExist(err) {
			t.Errorf("%s: lock file left: %v", tc.name, err)
		}
	}

	targets := filepath.Join(dir, "targets.json")
	if err := os.WriteFile(targets, []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(elsewhere, targets+".lock"); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, testEnv(), "-k", key, "-t", targets)
	if code != 1 || !strings.Contains(errs, "symbolic link") {
		t.Errorf("symlinked lock file: exit %d, %q", code, errs)
	}
	if _, err := os.Lstat(elsewhere); !os.IsNotExist(err) {
		t.Errorf("the lock file's link was followed: %v", err)
	}
}

// TestMisspelledField: an unknown field close to a known one is kept, and
// a run warns about it once, naming both, however many entries have it.
func TestMisspelledField(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	a := sourcetest.Start(t, sourcetest.OK, pub)
	b := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{
		sourcetest.Entry(a, map[string]any{"Name": "a", "Protocl": 1, "Keep": "x"}),
		sourcetest.Entry(b, map[string]any{"Name": "b", "Protocl": 1, "intervall": 60}),
	})
	code, out, errs := run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != 2 || strings.Count(errs, `"Protocl"`) != 1 || strings.Count(errs, `"intervall"`) != 1 || strings.Contains(errs, "Keep") {
		t.Fatalf("stderr:\n%s", errs)
	}
	for _, want := range []string{
		`entropy-source: warning: ` + targets + `: entry 0 (Name "a", Address "` + a.Addr + `"): unknown field "Protocl" (also in entry 1) is kept but not used; did you mean "Protocol"?`,
		`entry 1 (Name "b", Address "` + b.Addr + `"): unknown field "intervall" is kept but not used; did you mean "Interval"?`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %s:\n%s", want, errs)
		}
	}
	data, _ := os.ReadFile(targets)
	if !bytes.Contains(data, []byte(`"Protocl": 1`)) || !bytes.Contains(data, []byte(`"intervall": 60`)) {
		t.Errorf("unknown fields not kept:\n%s", data)
	}
}
