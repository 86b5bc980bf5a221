package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/source"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Execute(newCommand(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestOriginalEntry: the entry printed for the vectors' sink.pub is byte
// for byte the target.json the original entropy-target wrote.
func TestOriginalEntry(t *testing.T) {
	want := vectors.Read(t, "target.json")
	code, out, errs := run(t, "-a", "127.0.0.1:4141", "-k", vectors.Path(t, "sink.pub"))
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d: %s\ngot\n%s\nwant\n%s", code, errs, out, want)
	}
	code, out, _ = run(t, "-a", "127.0.0.1:4141", "-k", vectors.Path(t, "sink.pub"), "-c", "13", "-t", "1411351662")
	if code != 0 || !strings.Contains(out, "\t\"Counter\": 13,\n\t\"Next\": 1411351662\n}") {
		t.Fatalf("with -c and -t: %s", out)
	}
}

// TestAppend: --append creates the file, keeps other entries and their
// unknown fields, and refuses a duplicate without touching the file.
func TestAppend(t *testing.T) {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.json")
	pub := vectors.Path(t, "sink.pub")
	if code, _, errs := run(t, "-a", "a.example:4141", "-k", pub, "--name", "a", "--append", targets); code != 0 {
		t.Fatalf("create: %s", errs)
	}
	data, _ := os.ReadFile(targets)
	data = bytes.Replace(data, []byte(`"Name": "a"`), []byte(`"Name": "a", "Owner": {"team": "ops"}`), 1)
	os.WriteFile(targets, data, 0o644)
	code, _, errs := run(t, "-a", "b.example:4141", "-k", pub, "--protocol", "1", "--interval", "12h", "-f", targets)
	if code != 0 {
		t.Fatalf("append: %s", errs)
	}
	ts, err := source.LoadTargets(targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Entries) != 2 || ts.Entries[1].Protocol != 1 || ts.Entries[1].Interval != 43200 {
		t.Fatalf("entries %+v %+v", ts.Entries[0], ts.Entries[1])
	}
	out, _ := os.ReadFile(targets)
	if !bytes.Contains(out, []byte(`"Owner": {`)) || !bytes.Contains(out, []byte(`"team": "ops"`)) {
		t.Fatalf("unknown field lost:\n%s", out)
	}
	if fi, _ := os.Stat(targets); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	code, _, errs = run(t, "-a", "b.example:4141", "-k", pub, "-f", targets)
	if code != 1 || !strings.Contains(errs, "duplicate") {
		t.Fatalf("duplicate: exit %d %s", code, errs)
	}
	if again, _ := os.ReadFile(targets); !bytes.Equal(again, out) {
		t.Fatal("refused append changed the file")
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no sink address"},
		{[]string{"-a", "x:1", "-k", "/nonexistent.pub"}, "no such file"},
		{[]string{"-a", "x", "-k", vectors.Path(t, "sink.pub")}, "Address: want host:port"},
		{[]string{"-a", "x:0", "-k", vectors.Path(t, "sink.pub")}, `Address: bad port "0"; want 1 to 65535`},
		{[]string{"-a", "x:99999", "-k", vectors.Path(t, "sink.pub")}, `Address: bad port "99999"`},
		{[]string{"-a", "x:1", "-k", vectors.Path(t, "sink.pub"), "--protocol", "3"}, "--protocol 3"},
		{[]string{"-a", "x:1", "-k", vectors.Path(t, "signer.pub")}, "Curve25519"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// The sink's private key given where its public key belongs is refused:
// a targets entry lives on the board in a 0644 file, and every delivery
// would fail 0x01. Both signs (owner-only mode, .key name) are needed: a
// 32-byte file says nothing by its content.
func TestPrivateKeyRefused(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "sink.key")
	os.WriteFile(key, vectors.Read(t, "sink.key"), 0o600)
	targets := filepath.Join(dir, "targets.json")
	code, out, stderr := run(t, "-a", "127.0.0.1:4141", "-k", key, "--append", targets)
	if code != 2 || out != "" || !strings.Contains(stderr, "looks like a private key") || !strings.Contains(stderr, "sink.pub") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if _, err := os.Stat(targets); !os.IsNotExist(err) {
		t.Errorf("targets file written: %v", err)
	}
	// One sign alone is not enough: a 0600 public key, or a 0644 .key file.
	for _, c := range []struct {
		name string
		mode os.FileMode
	}{{"own.pub", 0o600}, {"public.key", 0o644}} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, vectors.Read(t, "sink.pub"), c.mode)
		os.Chmod(p, c.mode)
		if code, _, stderr := run(t, "-a", "127.0.0.1:4141", "-k", p); code != 0 {
			t.Errorf("%s %04o: exit %d: %s", c.name, c.mode, code, stderr)
		}
	}
}

// TestAppendFailureLeavesNoLock: an --append that creates the targets
// file and fails (here the temporary file's name is too long) leaves
// neither the file nor its lock file.
func TestAppendFailureLeavesNoLock(t *testing.T) {
	dir := t.TempDir()
	// 250 bytes: the lock file's name (255) fits, the temporary file's
	// ("." + name + digits) does not.
	targets := filepath.Join(dir, strings.Repeat("t", 250))
	code, _, errs := run(t, "-a", "a.example:4141", "-k", vectors.Path(t, "sink.pub"), "--append", targets)
	if code != 1 || !strings.Contains(errs, "file name too long") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// TestListAndRemove: --list prints every entry with its sink key's
// fingerprint; --remove deletes one by Name or Address, keeping the
// others and their unknown fields; an unknown name is exit 2 and leaves
// the file byte for byte.
func TestListAndRemove(t *testing.T) {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.json")
	pub := vectors.Path(t, "sink.pub")
	for _, args := range [][]string{
		{"-a", "a.example:4141", "-k", pub, "--name", "vps1", "-f", targets},
		{"-a", "b.example:4141", "-k", pub, "--protocol", "1", "--interval", "12h", "-f", targets},
		{"-a", "c.example:4141", "-k", pub, "--name", "vps3", "-f", targets},
	} {
		if code, _, errs := run(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	data, _ := os.ReadFile(targets)
	os.WriteFile(targets, bytes.Replace(data, []byte(`"Name": "vps3"`), []byte(`"Name": "vps3", "Owner": "ops"`), 1), 0o644)

	code, out, errs := run(t, "--list", "--targets", targets)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.Contains(lines[0], "SINK KEY") ||
		!strings.Contains(lines[1], "vps1") || !strings.Contains(lines[1], "SHA256:43bd17ffa3ef651ff42516c3c7d33f9dcd748c83ef6d05ab1a9f73d9e7374032") ||
		!strings.Contains(lines[2], "b.example:4141  1 ") || !strings.Contains(lines[2], "12h0m0s") {
		t.Fatalf("--list: exit %d\n%s\n%s", code, out, errs)
	}

	before, _ := os.ReadFile(targets)
	for _, args := range [][]string{
		{"--remove", "nosuch", "--targets", targets},
		{"--remove", "", "--targets", targets},
		{"--remove", "vps1", "--list", "--targets", targets},
		{"--remove", "vps1", "-a", "x.example:1", "--targets", targets},
		{"--remove", "vps1", "--targets", filepath.Join(dir, "none.json")},
	} {
		code, _, errs := run(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(after, before) {
		t.Fatal("a refused --remove changed the file")
	}
	if _, err := os.Lstat(filepath.Join(dir, "none.json.lock")); !os.IsNotExist(err) {
		t.Error("--remove on a missing file left a lock file")
	}

	code, _, errs = run(t, "--remove", "vps1", "--targets", targets)
	if code != 0 || !strings.Contains(errs, "removed vps1 (a.example:4141)") {
		t.Fatalf("--remove vps1: exit %d %s", code, errs)
	}
	code, _, errs = run(t, "--remove", "b.example:4141", "--targets", targets)
	if code != 0 {
		t.Fatalf("--remove ADDRESS: exit %d %s", code, errs)
	}
	ts, err := source.LoadTargets(targets)
	if err != nil || len(ts.Entries) != 1 || ts.Entries[0].Name != "vps3" {
		t.Fatalf("after: %v %+v", err, ts)
	}
	if out, _ := os.ReadFile(targets); !bytes.Contains(out, []byte(`"Owner": "ops"`)) {
		t.Errorf("unknown field lost:\n%s", out)
	}
	if code, out, _ := run(t, "__complete", "--targets", targets, "--remove", "vps"); code != 0 || out != "vps3\n:4\n" {
		t.Errorf("completion of --remove: exit %d %q", code, out)
	}
}

// An https:// address writes an entry for a sink's HTTPS listener, with
// the entry's own CA if --ca is given; a malformed one is a usage error.
func TestHTTPSEntry(t *testing.T) {
	pub := vectors.Path(t, "sink.pub")
	code, out, errs := run(t, "-a", "https://sink1.example.net:8443", "-k", pub, "--ca", "sink1-ca.crt")
	if code != 0 || !strings.Contains(out, "\t\"Address\": \"https://sink1.example.net:8443\",\n") || !strings.Contains(out, "\t\"CA\": \"sink1-ca.crt\"\n") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	targets := filepath.Join(t.TempDir(), "targets.json")
	if code, _, errs := run(t, "-a", "https://sink2.example.net", "-k", pub, "--append", targets); code != 0 {
		t.Fatalf("append: %s", errs)
	}
	if ts, err := source.LoadTargets(targets); err != nil || !ts.Entries[0].HTTPS() {
		t.Fatalf("%v %+v", err, ts)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"-a", "https://sink1.example.net:8443/v1/packet"}},
		{[]string{"-a", "https://sink1.example.net:8443?x=1"}},
		{[]string{"-a", "http://sink1.example.net:8443"}},
		{[]string{"-a", "https://:8443"}},
		{[]string{"-a", "https://sink1.example.net:0"}},
		{[]string{"-a", "sink1.example.net:4141", "--ca", "ca.crt"}},
	} {
		code, out, errs := run(t, append(tc.args, "-k", pub)...)
		if code != 2 || out != "" || !strings.Contains(errs, "entropy-target: ") {
			t.Errorf("%v: exit %d: %s%s", tc.args, code, out, errs)
		}
	}
}
