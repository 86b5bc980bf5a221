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
	// Signer is the index, in the slice given to Verify or Open, of the
	// signer whose key verified the packet.
	Signer int
}

// Sign encodes p and signs it with key under protocol proto, returning
// SignedDER. sinkPublic is the recipient's Curve25519 public key; protocol
// 2 binds the signature to it, protocol 1 ignores it.
func Sign(rand io.Reader, p *Packet, proto Protocol, key *rsa.PrivateKey, sinkPublic *[KeySize]byte) ([]byte, error) {
	if bits := key.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("packet: signer key is %d bits, want %d to %d", bits, MinRSABits, MaxRSABits)
	}
	der, err := p.MarshalDER()
	if err != nil {
		return nil, fmt.Errorf("packet: encoding packet: %w", err)
	}
	var sig []byte
	switch proto {
	case Protocol1:
		// The original passes nil options: the largest salt the key allows.
		sig, err = rsa.SignPSS(rand, key, crypto.SHA256, digestV1(der), nil)
	case Protocol2:
		sig, err = rsa.SignPSS(rand, key, crypto.SHA256, digestV2(sinkPublic, der),
			&rsa.PSSOptions{SaltLength: v2SaltLength})
	default:
		return nil, fmt.Errorf("packet: unknown protocol %d", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("packet: signing: %w", err)
	}
	return marshalSigned(der, sig)
}

// Verify checks SignedDER against the signers, trying protocol 2 with each
// and protocol 1 only with those marked Legacy, then parses the packet it
// carries. The signature is checked before the packet is parsed
// (PROTOCOL.md's order): unsigned input is never parsed further.
func Verify(signed []byte, sinkPublic *[KeySize]byte, signers []Signer) (*Opened, error) {
	der, sig, err := parseSigned(signed)
	if err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return nil, ErrUnsigned
	}
	var d1, d2 []byte
	for i, s := range signers {
		if s.Key == nil || s.Key.Size() != len(sig) {
			continue // a signature is exactly as long as its key's modulus
		}
		if d2 == nil {
			d2 = digestV2(sinkPublic, der)
		}
		proto := Protocol(0)
		if rsa.VerifyPSS(s.Key, crypto.SHA256, d2, sig, &rsa.PSSOptions{SaltLength: v2SaltLength}) == nil {
			proto = Protocol2
		} else if s.Legacy {
			if d1 == nil {
				d1 = digestV1(der)
			}
			if rsa.VerifyPSS(s.Key, crypto.SHA256, d1, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil {
				proto = Protocol1
			}
		}
		if proto == 0 {
			continue
		}
		p, err := ParsePacketDER(der)
		if err != nil {
			return nil, err
		}
		return &Opened{Packet: p, Protocol: proto, Signer: i}, nil
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
