package keys

import (
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

// FuzzParse feeds the same bytes to every key parser: none may panic, and a
// key that parses must re-encode to something that parses to the same key.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"signer.key", "signer.pub", "sink.key", "sink.pub"} {
		f.Add(vectors.Read(f, name))
	}
	f.Add([]byte("-----BEGIN CURVE25519 PUBLIC KEY-----\nAAAA\n-----END CURVE25519 PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := ParseRSAPrivate(data); err == nil {
			if again, err := ParseRSAPrivate(MarshalRSAPrivate(k, Raw)); err != nil || !again.Equal(k) {
				t.Fatal("RSA private key does not round-trip")
			}
		}
		if k, err := ParseRSAPublic(data); err == nil {
			b, err := MarshalRSAPublic(k, PEM)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := ParseRSAPublic(b); err != nil || !again.Equal(k) {
				t.Fatal("RSA public key does not round-trip")
			}
		}
		if k, err := ParseCurve25519Private(data); err == nil {
			if again, err := ParseCurve25519Private(MarshalCurve25519(k, true, Base64)); err != nil || *again != *k {
				t.Fatal("Curve25519 key does not round-trip")
			}
		}
		ParseCurve25519Public(data)
	})
}
