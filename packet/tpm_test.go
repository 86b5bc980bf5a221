package packet

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/internal/tpm/tpmtest"
)

// largestSalt signs as a TPM 2.0 outside FIPS mode does: RSASSA-PSS with
// the largest salt the key allows, whatever the options ask for.
type largestSalt struct{ *rsa.PrivateKey }

func (k largestSalt) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return rsa.SignPSS(rand, k.PrivateKey, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
}

// TestTPMSignedFrames: frames signed by a key in swtpm, and by a signer
// that picks the largest salt as most TPM chips do, open at a sink under
// both protocols; a protocol 1 frame also verifies under the original's
// rule (rsa.VerifyPSS with nil options, the largest-salt auto-detection).
func TestTPMSignedFrames(t *testing.T) {
	sim := tpmtest.Start(t)
	tp, err := tpm.Open(sim.Device)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := tp.CreateKey(context.Background(), tpm.DefaultHandle, 2048, false)
	tp.Close()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tpm.NewReference(sim.Device, tpm.DefaultHandle, pub)
	if err != nil {
		t.Fatal(err)
	}
	inTPM, err := tpm.LoadSigner(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	soft, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var sinkPriv [KeySize]byte
	rand.Read(sinkPriv[:])

	for _, c := range []struct {
		name   string
		signer crypto.Signer
	}{
		{"swtpm", inTPM},
		{"largest salt", largestSalt{soft}},
	} {
		pub := c.signer.Public().(*rsa.PublicKey)
		for _, proto := range []Protocol{Protocol1, Protocol2} {
			r, err := NewRecipient(&sinkPriv, []Signer{{Key: pub, Legacy: proto == Protocol1}})
			if err != nil {
				t.Fatal(err)
			}
			p := testPacket(t, 7)
			payload, err := Seal(rand.Reader, p, proto, c.signer, &r.public)
			if err != nil {
				t.Fatalf("%s, protocol %d: %v", c.name, proto, err)
			}
			op, err := r.Open(payload)
			if err != nil || op.Protocol != proto || op.Packet.Counter != 7 || op.Packet.Chunk != p.Chunk {
				t.Fatalf("%s, protocol %d: opened %+v, %v", c.name, proto, op, err)
			}
			if proto != Protocol1 {
				continue
			}
			signed, err := r.openBox(payload)
			if err != nil {
				t.Fatal(err)
			}
			der, sig, err := parseSigned(signed)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256(der)
			if err := rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, nil); err != nil {
				t.Fatalf("%s: the original's verifier refuses a protocol 1 signature: %v", c.name, err)
			}
		}
	}
}
