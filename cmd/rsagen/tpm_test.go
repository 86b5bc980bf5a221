package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/internal/tpm/tpmtest"
	"github.com/entropyshare/entropyshare/keys"
)

func TestTPMKey(t *testing.T) {
	sim := tpmtest.Start(t)
	dir := t.TempDir()
	code, _, stderr := run(t, dir, "--tpm", "--tpm-device", sim.Device, "-s", "2048", "-o", "board")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	pub, err := keys.LoadRSAPublic(filepath.Join(dir, "board.pub"))
	if err != nil || pub.N.BitLen() != 2048 {
		t.Fatalf("board.pub: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "board.key")); err == nil {
		t.Fatal("--tpm wrote a private key file")
	}
	// The reference: device, handle, fingerprint; public, 0644.
	data, err := os.ReadFile(filepath.Join(dir, "board.tpm"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]string
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	der, _ := os.ReadFile(filepath.Join(dir, "board.pub"))
	if fields["device"] != sim.Device || fields["handle"] != "0x81000100" || fields["public_key_sha256"] != fmt.Sprintf("%x", sha256.Sum256(der)) {
		t.Fatalf("reference: %s", data)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "board.tpm")); fi.Mode().Perm() != 0o644 {
		t.Errorf("board.tpm mode %04o", fi.Mode().Perm())
	}
	if x509Key, err := x509.ParsePKIXPublicKey(der); err != nil || !x509Key.(*rsa.PublicKey).Equal(pub) {
		t.Fatalf("board.pub is not PKIX DER: %v", err)
	}

	// The key signs, and the signature verifies with board.pub.
	ref, err := tpm.ReadReference(filepath.Join(dir, "board.tpm"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tpm.LoadSigner(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("rsagen"))
	sig, err := s.Sign(rand.Reader, d[:], &rsa.PSSOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, nil); err != nil {
		t.Fatal(err)
	}

	// -key board.tpm reads the key back from the TPM.
	code, _, stderr = run(t, dir, "-key", "board.tpm", "-o", "again")
	if code != 0 || !strings.Contains(stderr, "as recorded") {
		t.Fatalf("-key board.tpm: exit %d: %s", code, stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "again.pub")); !bytes.Equal(again, der) {
		t.Fatal("-key board.tpm wrote another public key")
	}
	code, _, stderr = run(t, dir, "-key", "board.tpm", "-o", "board")
	if code != 0 || !strings.Contains(stderr, "already holds this public key") {
		t.Fatalf("-key board.tpm -o board: exit %d: %s", code, stderr)
	}
	// --fingerprint: the TPM's public key's, as sha256sum board.pub.
	code, out, stderr := run(t, dir, "-key", "board.tpm", "--fingerprint")
	if want := fmt.Sprintf("SHA256:%x\n", sha256.Sum256(der)); code != 0 || out != want {
		t.Fatalf("-key board.tpm --fingerprint: exit %d, %q, want %q\n%s", code, out, want, stderr)
	}

	// The handle is taken: refused, and nothing changes, files or key.
	code, _, stderr = run(t, dir, "--tpm", "--tpm-device", sim.Device, "-s", "2048", "-o", "second")
	if code != 1 || !strings.Contains(stderr, "handle 0x81000100: handle already holds a key") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("occupied handle: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "second.tpm")); err == nil {
		t.Fatal("a refused key left a reference file")
	}
	code, _, stderr = run(t, dir, "--tpm", "--tpm-device", sim.Device, "-s", "2048", "-o", "board")
	if code != 1 || !strings.Contains(stderr, "refusing to overwrite") {
		t.Fatalf("existing files: exit %d: %s", code, stderr)
	}
	if code, _, stderr = run(t, dir, "-key", "board.tpm", "-o", "check"); code != 0 {
		t.Fatalf("the key moved after refusals: %s", stderr)
	}

	// --force replaces the key: the old reference then fails.
	code, _, stderr = run(t, dir, "--tpm", "--tpm-device", sim.Device, "-s", "2048", "-o", "new", "--force")
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, dir, "-key", "board.tpm", "-o", "old")
	if code != 1 || !strings.Contains(stderr, "not the one the reference file names") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("replaced key: exit %d: %s", code, stderr)
	}

	// Another handle, RSA-3072 (the default size).
	code, _, stderr = run(t, dir, "--tpm", "--tpm-device", sim.Device, "--handle", "0x81000101", "-o", "big")
	if code != 0 {
		t.Fatalf("RSA-3072: exit %d: %s", code, stderr)
	}
	if pub, err := keys.LoadRSAPublic(filepath.Join(dir, "big.pub")); err != nil || pub.N.BitLen() != 3072 {
		t.Fatalf("big.pub: %v", err)
	}
}

func TestTPMRefusals(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "tpmrm0")
	for _, c := range []struct {
		args []string
		code int
		text string
	}{
		{[]string{"--tpm", "--tpm-device", missing, "-s", "4096"}, 2, "TPMs rarely support RSA-4096"},
		{[]string{"--tpm", "--tpm-device", missing, "-s", "1024"}, 2, "2048 or 3072"},
		{[]string{"--tpm", "--tpm-device", missing, "--handle", "0x80000000"}, 2, "not an owner persistent handle"},
		{[]string{"--tpm", "--tpm-device", missing, "--handle", "zz"}, 2, "not a number"},
		{[]string{"--tpm", "--tpm-device", missing, "-s", "2048"}, 1, "no TPM: no such device"},
		{[]string{"--tpm", "-key", "x.tpm"}, 2, "give one of them"},
		{[]string{"--handle", "0x81000101"}, 2, "go with --tpm"},
	} {
		code, _, stderr := run(t, dir, c.args...)
		if code != c.code || !strings.Contains(stderr, c.text) {
			t.Errorf("%q: exit %d: %s", c.args, code, stderr)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("refusals wrote files: %v", entries)
	}
	// A reference whose TPM is gone.
	os.WriteFile(filepath.Join(dir, "gone.tpm"), []byte(`{"type": "entropyshare TPM 2.0 signer key v1", "device": "`+missing+`", "handle": "0x81000100", "public_key_sha256": "`+strings.Repeat("ab", 32)+`"}`), 0o644)
	if code, _, stderr := run(t, dir, "-key", "gone.tpm"); code != 1 || !strings.Contains(stderr, "no TPM") || !strings.Contains(stderr, "hint:") {
		t.Errorf("-key gone.tpm: exit %d: %s", code, stderr)
	}
}
