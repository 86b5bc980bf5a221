package keys

import (
	"crypto/ecdh"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
)

// GenerateRSA makes an RSA signer key of the given size.
func GenerateRSA(rand io.Reader, bits int) (*rsa.PrivateKey, error) {
	if bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("%w: %d bits, want %d to %d (default %d)", ErrKeySize, bits, MinRSABits, MaxRSABits, DefaultRSABits)
	}
	return rsa.GenerateKey(rand, bits)
}

// GenerateCurve25519 makes a Curve25519 key pair, the private key clamped
// as NaCl's box.GenerateKey leaves it.
func GenerateCurve25519(rand io.Reader) (private, public *[Curve25519Size]byte, err error) {
	private = new([Curve25519Size]byte)
	if _, err := io.ReadFull(rand, private[:]); err != nil {
		return nil, nil, fmt.Errorf("keys: reading randomness: %w", err)
	}
	private[0] &= 248
	private[31] &= 127
	private[31] |= 64
	public, err = Curve25519Public(private)
	if err != nil {
		return nil, nil, err
	}
	return private, public, nil
}

// Curve25519Public derives the public key of a Curve25519 private key.
func Curve25519Public(private *[Curve25519Size]byte) (*[Curve25519Size]byte, error) {
	k, err := ecdh.X25519().NewPrivateKey(private[:])
	if err != nil {
		return nil, fmt.Errorf("keys: deriving public key: %w", err)
	}
	out := new([Curve25519Size]byte)
	copy(out[:], k.PublicKey().Bytes())
	return out, nil
}

// Encoding is how key bytes are written to a file.
type Encoding int

const (
	// Raw writes the DER or 32 bytes as they are: the original's format.
	Raw Encoding = iota
	// PEM armours the bytes (the original's rsagen -a).
	PEM
	// Base64 writes standard base64 text and a newline.
	Base64
)

// MarshalRSAPrivate encodes k as PKCS#1 DER in the given encoding.
func MarshalRSAPrivate(k *rsa.PrivateKey, enc Encoding) []byte {
	return encode(x509.MarshalPKCS1PrivateKey(k), pemRSAPrivate, enc)
}

// MarshalRSAPublic encodes k as PKIX DER in the given encoding.
func MarshalRSAPublic(k *rsa.PublicKey, enc Encoding) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding public key: %w", err)
	}
	return encode(der, pemPublic, enc), nil
}

// MarshalCurve25519 encodes a Curve25519 key; private selects the PEM type.
func MarshalCurve25519(k *[Curve25519Size]byte, private bool, enc Encoding) []byte {
	typ := pemCurve25519Public
	if private {
		typ = pemCurve25519Private
	}
	return encode(k[:], typ, enc)
}

func encode(raw []byte, pemType string, enc Encoding) []byte {
	switch enc {
	case PEM:
		return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: raw})
	case Base64:
		return []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
	}
	return append([]byte(nil), raw...)
}
