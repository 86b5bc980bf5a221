package keys

import (
	"crypto/rsa"
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

// TestFingerprint: known answers from sha256sum over the original's raw
// key files (signer.pub is PKIX DER, sink.pub 32 bytes).
func TestFingerprint(t *testing.T) {
	pub, err := LoadRSAPublic(vectors.Path(t, "signer.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Fingerprint(pub), "SHA256:30308efe0e623334d28b39762281d76dd649a0cffadd1a2dc1e01c98d3c752b6"; got != want {
		t.Errorf("Fingerprint(signer.pub) = %s, want %s", got, want)
	}
	sink, err := LoadCurve25519Public(vectors.Path(t, "sink.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Curve25519Fingerprint(sink), "SHA256:43bd17ffa3ef651ff42516c3c7d33f9dcd748c83ef6d05ab1a9f73d9e7374032"; got != want {
		t.Errorf("Curve25519Fingerprint(sink.pub) = %s, want %s", got, want)
	}
	if got := Fingerprint(&rsa.PublicKey{}); got != "" {
		t.Errorf("Fingerprint of a key with no modulus = %q, want \"\"", got)
	}
}
