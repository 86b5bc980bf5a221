package packet

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
)

// Signer is a source's RSA public key as a sink knows it.
type Signer struct {
	Key *rsa.PublicKey
	// Legacy allows protocol 1 packets from this signer. Protocol 1
	// signatures are not bound to the sink and can be forwarded.
	Legacy bool
}

// Opened is a packet that opened and verified.
type Opened struct {
	Packet   *Packet
	Protocol Protocol
	// Signer is the index, in the slice given to NewRecipient, of the
	// signer whose key verified the packet.
	Signer int
}

// LegacyError is the ErrSignature of a packet that no signer verified but
// that is a valid protocol 1 packet from a signer not marked Legacy: the
// likeliest configuration mistake when an original source is pointed at
// this sink. It unwraps to ErrSignature.
type LegacyError struct {
	Signer int // index into the signers given to NewRecipient
}

func (e *LegacyError) Error() string {
	return fmt.Sprintf("%v: a protocol 1 packet from signer %d, which is not marked legacy", ErrSignature, e.Signer)
}

func (e *LegacyError) Unwrap() error { return ErrSignature }

// sign encodes p and signs it with signer under protocol proto, returning
// SignedDER. sinkPublic is the recipient's Curve25519 public key; protocol
// 2 binds the signature to it, protocol 1 ignores it.
func sign(rand io.Reader, p *Packet, proto Protocol, signer crypto.Signer, sinkPublic *[KeySize]byte) ([]byte, error) {
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("packet: signer key is %T, want RSA", signer.Public())
	}
	if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("packet: signer key is %d bits, want %d to %d", bits, MinRSABits, MaxRSABits)
	}
	der, err := p.marshalDER()
	if err != nil {
		return nil, fmt.Errorf("packet: encoding packet: %w", err)
	}
	var digest []byte
	var opts *rsa.PSSOptions
	switch proto {
	case Protocol1:
		// The original signs with the largest salt the key allows.
		digest = digestV1(der)
		opts = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}
	case Protocol2:
		digest = digestV2(sinkPublic, der)
		opts = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: v2SaltLength}
	default:
		return nil, fmt.Errorf("packet: unknown protocol %d", proto)
	}
	sig, err := signer.Sign(rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("packet: signing: %w", err)
	}
	return marshalSigned(der, sig)
}

// anySalt verifies PSS signatures of any salt length: protocol 1 signers
// use the largest salt, protocol 2 signers 32 bytes, and TPM 2.0 chips the
// largest unless in FIPS mode.
var anySalt = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}

// verify checks SignedDER against the signers and parses the packet it
// carries. Each signer costs one RSA verification (protocol 2), and a
// signer marked Legacy a second (protocol 1). A packet no signer verified
// costs one more, protocol 1 against the first signer of the right size not
// marked Legacy, to tell the operator about a likely missing Legacy flag
// (LegacyError), if hint, asked then, returns true (nil: never). The
// signature is checked before the packet is parsed (PROTOCOL.md's order):
// unsigned input is never parsed further.
func verify(signed []byte, sinkPublic *[KeySize]byte, signers []Signer, hint func() bool) (*Opened, error) {
	der, sig, err := parseSigned(signed)
	if err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return nil, ErrUnsigned
	}
	d1, d2 := digestV1(der), digestV2(sinkPublic, der)
	legacy := -1
	for i, s := range signers {
		if s.Key.Size() != len(sig) {
			continue // a signature is exactly as long as its key's modulus
		}
		proto := Protocol(0)
		if rsa.VerifyPSS(s.Key, crypto.SHA256, d2, sig, anySalt) == nil {
			proto = Protocol2
		} else if s.Legacy && rsa.VerifyPSS(s.Key, crypto.SHA256, d1, sig, anySalt) == nil {
			proto = Protocol1
		} else if !s.Legacy && legacy < 0 {
			legacy = i
		}
		if proto == 0 {
			continue
		}
		p, err := parsePacketDER(der)
		if err != nil {
			return nil, err
		}
		return &Opened{Packet: p, Protocol: proto, Signer: i}, nil
	}
	if legacy >= 0 && hint != nil && hint() && rsa.VerifyPSS(signers[legacy].Key, crypto.SHA256, d1, sig, anySalt) == nil {
		return nil, &LegacyError{Signer: legacy}
	}
	return nil, ErrSignature
}

func digestV1(der []byte) []byte {
	h := sha256.Sum256(der)
	return h[:]
}

func digestV2(sinkPublic *[KeySize]byte, der []byte) []byte {
	h := sha256.New()
	h.Write([]byte(v2Context))
	h.Write([]byte{0})
	h.Write(sinkPublic[:])
	h.Write(der)
	return h.Sum(nil)
}
