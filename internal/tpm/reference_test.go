package tpm

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	data, err := os.ReadFile("testdata/signer.tpm")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReference(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Device != "/dev/tpmrm0" || r.Handle != 0x81000100 || r.Fingerprint[0] != 0x5b || r.Fingerprint[31] != 0x70 {
		t.Fatalf("parsed %+v", r)
	}
	if !bytes.Equal(r.Marshal(), data) {
		t.Fatalf("re-encodes to\n%s", r.Marshal())
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	good, _ := os.ReadFile("testdata/signer.tpm")
	edit := func(old, new string) string { return strings.Replace(string(good), old, new, 1) }
	for _, c := range []struct {
		name, data, text string
	}{
		{"empty", "", "EOF"},
		{"not JSON", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", "invalid character"},
		{"PEM key", "-----BEGIN PUBLIC KEY-----\n", "invalid character"},
		{"other JSON", `{"Address": "vps1:4141"}`, "unknown field"},
		{"wrong type", edit("signer key v1", "signer key v2"), "type"},
		{"no device", edit(`"/dev/tpmrm0"`, `""`), "no device"},
		{"handle not hex", edit("0x81000100", "0x8100zz00"), "not a number"},
		{"transient handle", edit("0x81000100", "0x80000001"), "not an owner persistent handle"},
		{"platform handle", edit("0x81000100", "0x81800000"), "not an owner persistent handle"},
		{"short fingerprint", edit("8070\"", "80\""), "64 lowercase hex digits"},
		{"upper-case fingerprint", edit("5b2f", "5B2F"), "64 lowercase hex digits"},
		{"not hex", edit("5b2f", "5g2f"), "invalid byte"},
		{"trailing data", string(good) + "{}", "data after"},
		{"unknown field", edit(`"device"`, `"secret": "x", "device"`), "unknown field"},
	} {
		_, err := ParseReference([]byte(c.data))
		if !errors.Is(err, ErrReference) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v, want %q", c.name, err, c.text)
		}
	}
}

func TestReadReference(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReference("tcp://127.0.0.1:2321", 0x81000123, &k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "signer.tpm")
	if err := os.WriteFile(p, r.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReference(p)
	if err != nil || *got != *r {
		t.Fatalf("read %+v, %v", got, err)
	}
	if err := got.Check(&k.PublicKey); err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if err := got.Check(&other.PublicKey); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other key: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.tpm")
	os.WriteFile(big, make([]byte, maxReference+1), 0o644)
	if _, err := ReadReference(big); !errors.Is(err, ErrReference) || !strings.Contains(err.Error(), big) {
		t.Fatalf("large file: %v", err)
	}
	if _, err := ReadReference(filepath.Join(t.TempDir(), "none.tpm")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzParseReference: no input panics, and a reference that parses
// re-encodes to bytes that parse to the same reference.
func FuzzParseReference(f *testing.F) {
	data, err := os.ReadFile("testdata/signer.tpm")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"type":"entropyshare TPM 2.0 signer key v1","device":"tcp://127.0.0.1:2321","handle":"2164261120","public_key_sha256":"00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReference(data)
		if err != nil {
			return
		}
		again, err := ParseReference(r.Marshal())
		if err != nil || *again != *r {
			t.Fatalf("does not round-trip: %+v, %v", again, err)
		}
	})
}
