package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/privfile"
	"github.com/entropyshare/entropyshare/internal/vectors"
)

// private copies a vector into a temporary folder with mode 0600: git keeps
// no file modes, and the loaders refuse anything more open.
func private(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOriginalKeys(t *testing.T) {
	k, err := LoadRSAPrivate(private(t, "signer.key", vectors.Read(t, "signer.key")))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadRSAPublic(vectors.Path(t, "signer.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey.Equal(pub) || pub.N.BitLen() != 2048 {
		t.Fatal("signer.pub is not signer.key's public key")
	}
	sk, err := LoadCurve25519Private(private(t, "sink.key", vectors.Read(t, "sink.key")))
	if err != nil {
		t.Fatal(err)
	}
	spub, err := LoadCurve25519Public(vectors.Path(t, "sink.pub"))
	if err != nil {
		t.Fatal(err)
	}
	derived, err := Curve25519Public(sk)
	if err != nil || *derived != *spub {
		t.Fatalf("sink.pub is not sink.key's public key (%v)", err)
	}
}

// Every format in PROTOCOL.md parses to the same key.
func TestFormats(t *testing.T) {
	k, err := ParseRSAPrivate(vectors.Read(t, "signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	der := vectors.Read(t, "signer.key")
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	for name, data := range map[string][]byte{
		"raw":         der,
		"pem":         pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}),
		"base64":      []byte(base64.StdEncoding.EncodeToString(der) + "\n"),
		"base64 wrap": []byte(wrap(base64.StdEncoding.EncodeToString(der))),
		"pkcs8 pem":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"marshal pem": MarshalRSAPrivate(k, PEM),
		"marshal b64": MarshalRSAPrivate(k, Base64),
	} {
		got, err := ParseRSAPrivate(data)
		if err != nil || !got.Equal(k) {
			t.Errorf("RSA private %s: %v", name, err)
		}
	}
	pubDER := vectors.Read(t, "signer.pub")
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	for name, data := range map[string][]byte{
		"raw":    pubDER,
		"pem":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		"base64": []byte(base64.StdEncoding.EncodeToString(pubDER)),
		// The original's rsagen -a writes PKIX DER under this type.
		"original armour": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pubDER}),
		"pkcs1 pem":       pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
	} {
		got, err := ParseRSAPublic(data)
		if err != nil || !got.Equal(&k.PublicKey) {
			t.Errorf("RSA public %s: %v", name, err)
		}
	}
	raw := vectors.Read(t, "sink.key")
	for name, data := range map[string][]byte{
		"raw":    raw,
		"pem":    pem.EncodeToMemory(&pem.Block{Type: "CURVE25519 PRIVATE KEY", Bytes: raw}),
		"base64": []byte(" " + base64.StdEncoding.EncodeToString(raw) + "\r\n"),
	} {
		got, err := ParseCurve25519Private(data)
		if err != nil || !bytes.Equal(got[:], raw) {
			t.Errorf("Curve25519 private %s: %v", name, err)
		}
	}
	// sink.json's Private field is this base64 text.
	if got, err := ParseCurve25519Private([]byte("NTScfUsXdO58XWDxeAkWWmX0XUvmeol+8ff40qkpiTE=")); err != nil || !bytes.Equal(got[:], raw) {
		t.Errorf("sink.json's Private: %v", err)
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	return b.String() + s + "\n"
}

func TestDamaged(t *testing.T) {
	der := vectors.Read(t, "signer.key")
	pubDER := vectors.Read(t, "signer.pub")
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		data  []byte
		want  error
	}{
		{"rsa private empty", rsaPriv, nil, ErrFormat},
		{"rsa private truncated", rsaPriv, der[:len(der)/2], ErrFormat},
		{"rsa private is public", rsaPriv, pubDER, ErrFormat},
		{"rsa private wrong pem", rsaPriv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ErrFormat},
		{"rsa private 1024", rsaPriv, x509.MarshalPKCS1PrivateKey(small), ErrKeySize},
		{"rsa public flipped", rsaPub, flip(pubDER), ErrFormat},
		{"rsa public is private", rsaPub, der, ErrFormat},
		{"rsa public 1024", rsaPub, smallPub, ErrKeySize},
		{"curve private 31", curvePriv, make([]byte, 31), ErrFormat},
		{"curve private 33", curvePriv, make([]byte, 33), ErrFormat},
		{"curve private base64 of 31", curvePriv, []byte(base64.StdEncoding.EncodeToString(make([]byte, 31))), ErrFormat},
		{"curve private public pem", curvePriv, pem.EncodeToMemory(&pem.Block{Type: "CURVE25519 PUBLIC KEY", Bytes: make([]byte, 32)}), ErrFormat},
		{"curve public rsa", curvePub, pubDER, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.parse(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func rsaPriv(b []byte) error   { _, err := ParseRSAPrivate(b); return err }
func rsaPub(b []byte) error    { _, err := ParseRSAPublic(b); return err }
func curvePriv(b []byte) error { _, err := ParseCurve25519Private(b); return err }
func curvePub(b []byte) error  { _, err := ParseCurve25519Public(b); return err }

func flip(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)/3] ^= 0xff
	c[1] ^= 0x7f
	return c
}

// Loading errors name the file and what was expected.
func TestLoadErrorsNameTheFile(t *testing.T) {
	p := private(t, "garbage.key", []byte("hello"))
	_, err := LoadRSAPrivate(p)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "RSA private key") {
		t.Fatalf("err = %v", err)
	}
	_, err = LoadCurve25519Public(filepath.Join(t.TempDir(), "missing.pub"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.pub") {
		t.Fatalf("err = %v", err)
	}
	big := private(t, "big.key", make([]byte, maxKeyFile+1))
	if _, err := LoadCurve25519Private(big); !errors.Is(err, ErrFormat) {
		t.Fatalf("oversize file: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o700, 0o610} {
		p := private(t, "sink.key", vectors.Read(t, "sink.key"))
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCurve25519Private(p)
		var pe *privfile.PermissionError
		if mode&0o077 == 0 {
			if err != nil {
				t.Errorf("mode %04o: %v", mode, err)
			}
			continue
		}
		if !errors.As(err, &pe) || !errors.Is(err, ErrPermissions) {
			t.Fatalf("mode %04o: err = %v, want a PermissionError", mode, err)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("mode %04o: message lacks the fix: %v", mode, err)
		}
	}
	// Public keys may be world-readable.
	p := private(t, "sink.pub", vectors.Read(t, "sink.pub"))
	os.Chmod(p, 0o644)
	if _, err := LoadCurve25519Public(p); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.key")
	if err := WriteFile(p, []byte("one"), true, false); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %04o", fi.Mode().Perm())
	}
	err := WriteFile(p, []byte("two"), true, false)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatal("refused overwrite changed the file")
	}
	// --force replaces, and a too-open old mode does not survive.
	os.Chmod(p, 0o666)
	if err := WriteFile(p, []byte("three"), true, true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("forced private key mode %04o", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "three" {
		t.Fatal("force did not replace")
	}
	pub := filepath.Join(dir, "k.pub")
	if err := WriteFile(pub, []byte("p"), false, false); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(pub); fi.Mode().Perm() != 0o644 {
		t.Fatalf("public key mode %04o", fi.Mode().Perm())
	}
	// A symlink planted where the key goes is not followed.
	link := filepath.Join(dir, "link.key")
	os.Symlink(filepath.Join(dir, "elsewhere"), link)
	if err := WriteFile(link, []byte("x"), true, false); !errors.Is(err, ErrExists) {
		t.Fatalf("symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Fatal("write followed a symlink")
	}
}

func TestGenerate(t *testing.T) {
	for _, bits := range []int{1024, 2047, 8193} {
		if _, err := GenerateRSA(rand.Reader, bits); !errors.Is(err, ErrKeySize) {
			t.Errorf("%d bits: %v", bits, err)
		}
	}
	k, err := GenerateRSA(rand.Reader, 2048)
	if err != nil || k.N.BitLen() != 2048 {
		t.Fatal(err)
	}
	a, apub, err := GenerateCurve25519(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := GenerateCurve25519(rand.Reader)
	if *a == *b {
		t.Fatal("two key pairs are equal")
	}
	for _, enc := range []Encoding{Raw, PEM, Base64} {
		got, err := ParseCurve25519Public(MarshalCurve25519(apub, false, enc))
		if err != nil || *got != *apub {
			t.Errorf("encoding %d: %v", enc, err)
		}
		data, _ := MarshalRSAPublic(&k.PublicKey, enc)
		if got, err := ParseRSAPublic(data); err != nil || !got.Equal(&k.PublicKey) {
			t.Errorf("RSA encoding %d: %v", enc, err)
		}
	}
}
