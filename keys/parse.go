package keys

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"
)

// Key sizes this project accepts for RSA signers.
const (
	MinRSABits     = 2048
	MaxRSABits     = 8192
	DefaultRSABits = 3072

	// Curve25519Size is the size of a Curve25519 key.
	Curve25519Size = 32
)

// PEM block types.
const (
	pemRSAPrivate        = "RSA PRIVATE KEY"
	pemPublic            = "PUBLIC KEY"
	pemRSAPublic         = "RSA PUBLIC KEY"
	pemCurve25519Private = "CURVE25519 PRIVATE KEY"
	pemCurve25519Public  = "CURVE25519 PUBLIC KEY"
)

// decodings returns the candidate raw encodings held by data, most
// specific first: a PEM block of one of the wanted types, then base64 text,
// then data itself. A PEM block of another type is reported, since trying
// its contents as raw bytes would only hide the mistake.
func decodings(data []byte, want ...string) ([][]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if block, _ := pem.Decode(trimmed); block != nil {
		for _, w := range want {
			if block.Type == w {
				return [][]byte{block.Bytes}, nil
			}
		}
		return nil, fmt.Errorf("%w: PEM block %q, want %s", ErrFormat, block.Type, strings.Join(quoteAll(want), " or "))
	}
	var out [][]byte
	if text := strings.Join(strings.Fields(string(trimmed)), ""); text != "" {
		if raw, err := base64.StdEncoding.DecodeString(text); err == nil && len(raw) > 0 {
			out = append(out, raw)
		}
	}
	return append(out, data), nil
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

// ParseRSAPrivate parses an RSA private key: PKCS#1 DER (raw, PEM "RSA
// PRIVATE KEY" or base64). PKCS#8 DER holding an RSA key is accepted too.
func ParseRSAPrivate(data []byte) (*rsa.PrivateKey, error) {
	cands, err := decodings(data, pemRSAPrivate, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	for _, der := range cands {
		if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
			return checkRSAPrivate(k)
		}
		if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
			if rk, ok := k.(*rsa.PrivateKey); ok {
				return checkRSAPrivate(rk)
			}
		}
	}
	return nil, fmt.Errorf("%w: want an RSA private key (PKCS#1 DER, PEM %q or base64)", ErrFormat, pemRSAPrivate)
}

func checkRSAPrivate(k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if _, err := checkRSAPublic(&k.PublicKey); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseRSAPublic parses an RSA public key: PKIX DER (raw, PEM "PUBLIC KEY"
// or base64), or PKCS#1 DER in PEM "RSA PUBLIC KEY".
func ParseRSAPublic(data []byte) (*rsa.PublicKey, error) {
	cands, err := decodings(data, pemPublic, pemRSAPublic)
	if err != nil {
		return nil, err
	}
	for _, der := range cands {
		if k, err := x509.ParsePKIXPublicKey(der); err == nil {
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("%w: public key is %T, want RSA", ErrFormat, k)
			}
			return checkRSAPublic(rk)
		}
		if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
			return checkRSAPublic(k)
		}
	}
	return nil, fmt.Errorf("%w: want an RSA public key (PKIX DER, PEM %q or base64)", ErrFormat, pemPublic)
}

func checkRSAPublic(k *rsa.PublicKey) (*rsa.PublicKey, error) {
	if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("%w: key is %d bits, want %d to %d", ErrKeySize, bits, MinRSABits, MaxRSABits)
	}
	return k, nil
}

// ParseCurve25519Private parses a Curve25519 private key: 32 raw bytes, PEM
// "CURVE25519 PRIVATE KEY" or base64 of the 32 bytes.
func ParseCurve25519Private(data []byte) (*[Curve25519Size]byte, error) {
	return parseCurve25519(data, "private", pemCurve25519Private)
}

// ParseCurve25519Public parses a Curve25519 public key: 32 raw bytes, PEM
// "CURVE25519 PUBLIC KEY" or base64 of the 32 bytes.
func ParseCurve25519Public(data []byte) (*[Curve25519Size]byte, error) {
	return parseCurve25519(data, "public", pemCurve25519Public)
}

func parseCurve25519(data []byte, kind, pemType string) (*[Curve25519Size]byte, error) {
	cands, err := decodings(data, pemType)
	if err != nil {
		return nil, err
	}
	for _, raw := range cands {
		if len(raw) == Curve25519Size {
			var k [Curve25519Size]byte
			copy(k[:], raw)
			return &k, nil
		}
	}
	return nil, fmt.Errorf("%w: want a Curve25519 %s key (32 raw bytes, PEM %q or base64 of 32 bytes)", ErrFormat, kind, pemType)
}
