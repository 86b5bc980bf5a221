package tpm_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/internal/tpm/tpmtest"
)

const handle = tpm.DefaultHandle

// newKey makes a key of bits at handle in sim's TPM and returns its
// reference.
func newKey(t *testing.T, sim *tpmtest.Simulator, h uint32, bits int) *tpm.Reference {
	t.Helper()
	tp, err := tpm.Open(sim.Device)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	pub, err := tp.CreateKey(context.Background(), h, bits, false)
	if err != nil {
		t.Fatal(err)
	}
	if pub.N.BitLen() != bits {
		t.Fatalf("key is %d bits, want %d", pub.N.BitLen(), bits)
	}
	ref, err := tpm.NewReference(sim.Device, h, pub)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func sign(t *testing.T, s crypto.Signer, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	sig, err := s.Sign(rand.Reader, d[:], &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestSignVerify(t *testing.T) {
	sim := tpmtest.Start(t)
	for i, bits := range tpm.KeySizes {
		t.Run(fmt.Sprintf("rsa%d", bits), func(t *testing.T) {
			h := handle + uint32(i)
			ref := newKey(t, sim, h, bits)
			s, err := tpm.LoadSigner(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			pub := s.Public().(*rsa.PublicKey)
			msg := []byte("entropyshare tpm test message")
			sig := sign(t, s, msg)
			d := sha256.Sum256(msg)
			if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
				t.Fatalf("RSA-%d: crypto/rsa does not verify the TPM's signature: %v", bits, err)
			}
			// nil options are PSSSaltLengthAuto too: the original's verifier.
			if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, nil); err != nil {
				t.Fatal(err)
			}
			t.Logf("RSA-%d: salt length %d", bits, saltLength(pub, d[:], sig))
			verifyOpenSSL(t, pub, msg, sig)
			checkAttributes(t, sim, h)
		})
	}
}

// saltLength finds the salt length the TPM chose, by trying them (0 is
// PSSSaltLengthAuto to crypto/rsa, so a salt of 0 bytes shows as 0).
func saltLength(pub *rsa.PublicKey, digest, sig []byte) int {
	for n := 1; n <= pub.Size()-sha256.Size-2; n++ {
		if rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: n}) == nil {
			return n
		}
	}
	return 0
}

// verifyOpenSSL checks the signature with openssl, outside this program.
func verifyOpenSSL(t *testing.T, pub *rsa.PublicKey, msg, sig []byte) {
	t.Helper()
	openssl := tpmtest.RequireTool(t, "openssl")
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(pub)
	files := map[string][]byte{
		"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"msg":     msg,
		"sig":     sig,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(m string) ([]byte, error) {
		cmd := exec.Command(openssl, "dgst", "-sha256", "-verify", "pub.pem",
			"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:auto",
			"-signature", "sig", m)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := verify("msg"); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl does not verify the signature: %v: %s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "other"), append(msg, '!'), 0o600)
	if out, err := verify("other"); err == nil {
		t.Fatalf("openssl verified the signature over another message: %s", out)
	}
}

// checkAttributes reads the key's public area with tpm2-tools, outside
// this program: it must be a sign-only key that cannot leave the TPM.
func checkAttributes(t *testing.T, sim *tpmtest.Simulator, h uint32) {
	t.Helper()
	tool := tpmtest.RequireTool(t, "tpm2_readpublic")
	cmd := exec.Command(tool, "-c", fmt.Sprintf("%#x", h))
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI="+sim.TCTI())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tpm2_readpublic: %v: %s", err, out)
	}
	text := string(out)
	for _, want := range []string{"fixedtpm", "fixedparent", "sensitivedataorigin", "userwithauth", "sign", "rsapss", "sha256"} {
		if !strings.Contains(text, want) {
			t.Errorf("tpm2_readpublic does not show %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"decrypt", "restricted"} {
		if strings.Contains(text, bad) {
			t.Errorf("tpm2_readpublic shows %q:\n%s", bad, text)
		}
	}
}

func TestReferenceSurvivesRestart(t *testing.T) {
	sim := tpmtest.Start(t)
	ref := newKey(t, sim, handle, 2048)
	sim.Restart(t)
	s, err := tpm.LoadSigner(context.Background(), ref)
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	msg := []byte("after restart")
	sig := sign(t, s, msg)
	d := sha256.Sum256(msg)
	if err := rsa.VerifyPSS(s.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig, nil); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSignerFailures(t *testing.T) {
	sim := tpmtest.Start(t)
	ref := newKey(t, sim, handle, 2048)
	other := newKey(t, sim, handle+1, 2048)

	wrongHandle := *ref
	wrongHandle.Handle = handle + 7
	missing := *ref
	missing.Device = filepath.Join(t.TempDir(), "tpmrm0")
	closed := *ref
	closed.Device = "tcp://" + closedPort(t)
	replaced := *other
	replaced.Fingerprint = ref.Fingerprint // handle+1 holds another key
	for _, c := range []struct {
		name string
		ref  tpm.Reference
		want error
		text string
	}{
		{"wrong handle", wrongHandle, tpm.ErrNoKey, "handle 0x81000107: no key"},
		{"missing device", missing, tpm.ErrNoTPM, "no such device"},
		{"nothing listening", closed, tpm.ErrNoTPM, "nothing listens"},
		{"replaced key", replaced, tpm.ErrKeyMismatch, "not the one the reference file names"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := tpm.LoadSigner(context.Background(), &c.ref)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) || !strings.HasPrefix(err.Error(), "tpm: ") {
				t.Fatalf("got %v, want %v (%q)", err, c.want, c.text)
			}
		})
	}
}

// closedPort returns a 127.0.0.1 port where nothing listens.
func closedPort(t *testing.T) string {
	sim := tpmtest.Start(t) // a port swtpm could bind, then freed
	addr := strings.TrimPrefix(sim.Device, "tcp://")
	sim.Stop()
	return addr
}

func TestReplacedKeyAtSameHandle(t *testing.T) {
	sim := tpmtest.Start(t)
	ref := newKey(t, sim, handle, 2048)
	tp, err := tpm.Open(sim.Device)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tp.CreateKey(ctx, handle, 2048, false); !errors.Is(err, tpm.ErrHandleInUse) {
		t.Fatalf("occupied handle: %v", err)
	}
	if _, err := tp.CreateKey(ctx, handle, 2048, true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	tp.Close()
	if _, err := tpm.LoadSigner(ctx, ref); !errors.Is(err, tpm.ErrKeyMismatch) {
		t.Fatalf("replaced key: %v", err)
	}
}

func TestCreateKeyRefuses(t *testing.T) {
	sim := tpmtest.Start(t)
	tp, err := tpm.Open(sim.Device)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	ctx := context.Background()
	for _, c := range []struct {
		handle uint32
		bits   int
		want   error
		text   string
	}{
		{handle, 4096, tpm.ErrKeySize, "RSA-4096 is outside the TCG's PC Client profile"},
		{handle, 1024, tpm.ErrKeySize, "want 2048 or 3072"},
		{0x81800000, 2048, tpm.ErrHandle, "not an owner persistent handle"},
		{0x80000001, 2048, tpm.ErrHandle, "not an owner persistent handle"},
	} {
		_, err := tp.CreateKey(ctx, c.handle, c.bits, false)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%#x RSA-%d: %v, want %v", c.handle, c.bits, err, c.want)
		}
	}
	if _, err := tp.PublicKey(ctx, handle); !errors.Is(err, tpm.ErrNoKey) {
		t.Fatalf("a refused key left something at the handle: %v", err)
	}
}

func TestSignerRefusesOtherSchemes(t *testing.T) {
	sim := tpmtest.Start(t)
	s, err := tpm.LoadSigner(context.Background(), newKey(t, sim, handle, 2048))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(nil)
	for _, c := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"PKCS#1 v1.5", d[:], crypto.SHA256},
		{"SHA-512", make([]byte, 64), &rsa.PSSOptions{Hash: crypto.SHA512}},
		{"short digest", d[:31], &rsa.PSSOptions{Hash: crypto.SHA256}},
	} {
		if _, err := s.Sign(rand.Reader, c.digest, c.opts); err == nil {
			t.Errorf("%s: signed", c.name)
		}
	}
}

func TestRandom(t *testing.T) {
	sim := tpmtest.Start(t)
	a, err := tpm.ReadRandom(context.Background(), sim.Device, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tpm.ReadRandom(context.Background(), sim.Device, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1024 || string(a) == string(b) || string(a[:64]) == string(make([]byte, 64)) {
		t.Fatalf("GetRandom output: %x", a[:32])
	}
	if _, err := tpm.ReadRandom(context.Background(), filepath.Join(t.TempDir(), "tpmrm0"), 16); !errors.Is(err, tpm.ErrNoTPM) {
		t.Fatalf("missing device: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tpm.ReadRandom(ctx, sim.Device, 16); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestNoGoroutineLeft: signing, reading the generator and a read abandoned
// on its deadline leave no goroutine behind.
func TestNoGoroutineLeft(t *testing.T) {
	sim := tpmtest.Start(t)
	ref := newKey(t, sim, handle, 2048)
	before := runtime.NumGoroutine()
	s, err := tpm.LoadSigner(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	sign(t, s, []byte("leak"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if _, err := tpm.ReadRandom(ctx, sim.Device, 64); err != nil {
		t.Fatal(err)
	}
	cancel()
	// 1 MiB is some 30,000 commands: abandoned mid-way, the connection
	// closed under it.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := tpm.ReadRandom(ctx, sim.Device, 1<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned read: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
