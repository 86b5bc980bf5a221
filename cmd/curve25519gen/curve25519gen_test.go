package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
)

func run(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := cli.Execute(newCommand(), args, &out, &errb)
	return code, errb.String()
}

func TestGenerate(t *testing.T) {
	for _, armour := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"-o", "vps1"}
		if armour {
			args = append(args, "-a")
		}
		if code, stderr := run(t, dir, args...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "vps1.key"))
		if armour != bytes.HasPrefix(raw, []byte("-----BEGIN CURVE25519 PRIVATE KEY-----")) || !armour && len(raw) != 32 {
			t.Fatalf("armour %v: key file %d bytes", armour, len(raw))
		}
		priv, err := keys.LoadCurve25519Private(filepath.Join(dir, "vps1.key"))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.LoadCurve25519Public(filepath.Join(dir, "vps1.pub"))
		if err != nil {
			t.Fatal(err)
		}
		if derived, _ := keys.Curve25519Public(priv); *derived != *pub {
			t.Fatal("public key does not match private key")
		}
		fi, _ := os.Stat(filepath.Join(dir, "vps1.key"))
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("key mode %04o", fi.Mode().Perm())
		}
		if code, stderr := run(t, dir, args...); code != 1 || !strings.Contains(stderr, "--force") {
			t.Fatalf("overwrite: exit %d: %s", code, stderr)
		}
		if code, stderr := run(t, dir, append(args, "--force")...); code != 0 {
			t.Fatalf("--force: exit %d: %s", code, stderr)
		}
		if again, _ := os.ReadFile(filepath.Join(dir, "vps1.key")); bytes.Equal(again, raw) {
			t.Fatal("--force kept the old key")
		}
	}
	if code, stderr := run(t, t.TempDir(), "extra-arg"); code != 2 {
		t.Fatalf("stray argument: exit %d: %s", code, stderr)
	}
}

// --fingerprint prints what sha256sum prints for the raw public key, from
// the public or the private key file, raw or PEM, and writes nothing.
func TestFingerprint(t *testing.T) {
	for _, armour := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"-o", "vps1"}
		if armour {
			args = append(args, "-a")
		}
		if code, stderr := run(t, dir, args...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		pub, err := keys.LoadCurve25519Public(filepath.Join(dir, "vps1.pub"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(pub[:])
		want := "SHA256:" + hex.EncodeToString(sum[:]) + "\n"
		for _, file := range []string{"vps1.pub", "vps1.key"} {
			var out, errb bytes.Buffer
			t.Chdir(dir)
			code := cli.Execute(newCommand(), []string{"--fingerprint", file}, &out, &errb)
			if code != 0 || out.String() != want {
				t.Errorf("armour %v, %s: exit %d, %q, want %q\n%s", armour, file, code, out.String(), want, errb.String())
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 2 {
			t.Fatalf("--fingerprint wrote files: %v", ents)
		}
	}
	var out, errb bytes.Buffer
	if code := cli.Execute(newCommand(), []string{"--fingerprint", filepath.Join(t.TempDir(), "none.pub")}, &out, &errb); code != 1 || out.Len() != 0 {
		t.Fatalf("missing file: exit %d %s", code, errb.String())
	}
}
