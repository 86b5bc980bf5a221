package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
)

func run(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code = cli.Execute(newCommand(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestGenerateAndRefuse(t *testing.T) {
	dir := t.TempDir()
	// The original's single-dash spelling still works.
	code, _, stderr := run(t, dir, "-s", "2048", "-o", "board")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	k, err := keys.LoadRSAPrivate(filepath.Join(dir, "board.key"))
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 2048 {
		t.Fatalf("%d bits", k.N.BitLen())
	}
	pub, err := keys.LoadRSAPublic(filepath.Join(dir, "board.pub"))
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public key: %v", err)
	}
	for name, want := range map[string]os.FileMode{"board.key": 0o600, "board.pub": 0o644} {
		fi, _ := os.Stat(filepath.Join(dir, name))
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", name, fi.Mode().Perm(), want)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "board.key"))
	code, _, stderr = run(t, dir, "-s", "2048", "-o", "board")
	if code != 1 || !strings.Contains(stderr, "refusing to overwrite") {
		t.Fatalf("overwrite: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "board.key")); !bytes.Equal(before, after) {
		t.Fatal("refused overwrite changed the key")
	}
	// -key recovers the public key from the private one.
	code, _, stderr = run(t, dir, "-key", "board.key", "-o", "again")
	if code != 0 {
		t.Fatalf("-key: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "board.pub"))
	b, _ := os.ReadFile(filepath.Join(dir, "again.pub"))
	if !bytes.Equal(a, b) {
		t.Fatal("-key wrote a different public key")
	}
	// A world-readable private key is refused with the fix.
	os.Chmod(filepath.Join(dir, "board.key"), 0o644)
	code, _, stderr = run(t, dir, "-key", "board.key", "-o", "third")
	if code != 1 || !strings.Contains(stderr, "chmod 600 board.key") {
		t.Fatalf("open key: exit %d: %s", code, stderr)
	}
}

func TestArmourAndSizes(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := run(t, dir, "-a", "-s", "3072"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "signer.key"))
	if !bytes.HasPrefix(data, []byte("-----BEGIN RSA PRIVATE KEY-----")) {
		t.Fatalf("not PEM: %.40q", data)
	}
	if k, err := keys.LoadRSAPrivate(filepath.Join(dir, "signer.key")); err != nil || k.N.BitLen() != 3072 {
		t.Fatalf("armoured key: %v", err)
	}
	for _, bits := range []string{"1024", "8200", "x"} {
		code, _, stderr := run(t, dir, "-s", bits, "-o", "bad")
		if code != 2 || !strings.Contains(stderr, "hint:") {
			t.Errorf("-s %s: exit %d: %s", bits, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.key")); err == nil {
		t.Error("a refused size wrote a key")
	}
	if code, out, _ := run(t, dir, "--version"); code != 0 || !regexp.MustCompile(`^rsagen \d+\.\d+\.\d+\S* \(go\S+, \w+/\w+\)\n$`).MatchString(out) {
		t.Errorf("--version: %d %q", code, out)
	}
	if code, out, _ := run(t, dir, "--help"); code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("--help: %d", code)
	}
}

// -key FILE --fingerprint prints what sha256sum prints for the raw public
// key, from the private or the public key file, raw or PEM, and writes
// nothing; without -key it is a usage error.
func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := run(t, dir, "-s", "2048", "-o", "raw"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, dir, "-s", "2048", "-o", "pem", "-a"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, base := range []string{"raw", "pem"} {
		pub, err := keys.LoadRSAPublic(filepath.Join(dir, base+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		want := keys.Fingerprint(pub) + "\n"
		if base == "raw" {
			sum := sha256.Sum256(mustRead(t, filepath.Join(dir, "raw.pub")))
			if want != "SHA256:"+hex.EncodeToString(sum[:])+"\n" {
				t.Fatalf("%s is not sha256sum's %x", want, sum)
			}
		}
		for _, file := range []string{base + ".key", base + ".pub"} {
			code, out, stderr := run(t, dir, "-key", file, "--fingerprint")
			if code != 0 || out != want {
				t.Errorf("%s: exit %d, %q, want %q\n%s", file, code, out, want, stderr)
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Fatalf("--fingerprint wrote files: %v", ents)
	}
	if code, _, stderr := run(t, dir, "--fingerprint"); code != 2 || !strings.Contains(stderr, "-key FILE") {
		t.Fatalf("without -key: exit %d: %s", code, stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
