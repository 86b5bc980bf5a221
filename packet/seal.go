package packet

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/salsa20/salsa"
)

// Seal signs p under protocol proto and seals it to the sink's Curve25519
// public key with a fresh ephemeral key pair and a random nonce, returning
// the frame payload (without the length prefix; see WriteFrame).
func Seal(rand io.Reader, p *Packet, proto Protocol, key *rsa.PrivateKey, sinkPublic *[KeySize]byte) ([]byte, error) {
	signed, err := Sign(rand, p, proto, key, sinkPublic)
	if err != nil {
		return nil, err
	}
	return SealBox(rand, signed, sinkPublic)
}

// SealBox seals msg to sinkPublic: ephemeral-public || nonce || box.
func SealBox(rand io.Reader, msg []byte, sinkPublic *[KeySize]byte) ([]byte, error) {
	ephPublic, ephPrivate, err := box.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("packet: generating ephemeral key: %w", err)
	}
	defer clear(ephPrivate[:])
	out := make([]byte, KeySize+NonceSize, Overhead+len(msg))
	copy(out, ephPublic[:])
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("packet: generating nonce: %w", err)
	}
	copy(out[KeySize:], nonce[:])
	return box.Seal(out, msg, &nonce, sinkPublic, ephPrivate), nil
}

// Recipient is a sink's Curve25519 key pair, ready to open boxes.
type Recipient struct {
	private, public [KeySize]byte
}

// NewRecipient derives the public key of private.
func NewRecipient(private *[KeySize]byte) (*Recipient, error) {
	pub, err := curve25519.X25519(private[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("packet: sink private key: %w", err)
	}
	r := &Recipient{private: *private}
	copy(r.public[:], pub)
	return r, nil
}

// Public returns the recipient's public key.
func (r *Recipient) Public() *[KeySize]byte {
	pub := r.public
	return &pub
}

var errLowOrder = errors.New("low-order ephemeral key")

// OpenBox opens a frame payload sealed to r and returns SignedDER.
func (r *Recipient) OpenBox(payload []byte) ([]byte, error) {
	if len(payload) < Overhead {
		return nil, fmt.Errorf("%w: payload is %d bytes, want at least %d", ErrFrameSize, len(payload), Overhead)
	}
	// box.Open would accept a low-order ephemeral key, whose shared secret
	// is all zeros and known to anyone; curve25519.X25519 refuses it
	// (as wireguard-go does). The rest is box.Precompute by hand.
	shared, err := curve25519.X25519(r.private[:], payload[:KeySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, errLowOrder)
	}
	var key, in [KeySize]byte
	copy(in[:], shared)
	clear(shared)
	salsa.HSalsa20(&key, &[16]byte{}, &in, &salsa.Sigma)
	clear(in[:])
	var nonce [NonceSize]byte
	copy(nonce[:], payload[KeySize:])
	msg, ok := box.OpenAfterPrecomputation(nil, payload[KeySize+NonceSize:], &nonce, &key)
	clear(key[:])
	if !ok {
		return nil, ErrDecrypt
	}
	return msg, nil
}

// Open opens a frame payload sealed to r and verifies it against signers
// (see Verify). It does not apply Check: drift and counter are the sink's.
func (r *Recipient) Open(payload []byte, signers []Signer) (*Opened, error) {
	signed, err := r.OpenBox(payload)
	if err != nil {
		return nil, err
	}
	return Verify(signed, &r.public, signers)
}
