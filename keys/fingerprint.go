package keys

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// Fingerprint names an RSA public key for people and state files:
// "SHA256:" and the hex SHA-256 of its PKIX DER. For a key file in the
// original's raw format that is what sha256sum prints for signer.pub.
// A key that cannot be encoded (no modulus) has the fingerprint "".
func Fingerprint(k *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	return fingerprint(der)
}

// Curve25519Fingerprint names a Curve25519 public key the same way:
// "SHA256:" and the hex SHA-256 of its 32 bytes, what sha256sum prints
// for a raw sink.pub.
func Curve25519Fingerprint(k *[Curve25519Size]byte) string {
	return fingerprint(k[:])
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return "SHA256:" + hex.EncodeToString(sum[:])
}
