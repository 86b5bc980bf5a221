package packet

import (
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
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

// lowOrderKey is the box key of an all-zero shared secret: what any
// private key precomputes with a low-order public key such as zero.
var lowOrderKey = func() (k [KeySize]byte) {
	var zero, priv [KeySize]byte
	priv[0] = 1
	box.Precompute(&k, &zero, &priv)
	return k
}()

// OpenBox opens a frame payload sealed to r and returns SignedDER.
func (r *Recipient) OpenBox(payload []byte) ([]byte, error) {
	if len(payload) < Overhead {
		return nil, fmt.Errorf("%w: payload is %d bytes, want at least %d", ErrFrameSize, len(payload), Overhead)
	}
	// box.Open would accept a low-order ephemeral key, whose shared secret
	// is all zeros and known to anyone. Every such key precomputes to the
	// same box key, so one constant-time comparison refuses them all (the
	// check wireguard-go makes on the X25519 result).
	var key [KeySize]byte
	box.Precompute(&key, (*[KeySize]byte)(payload[:KeySize]), &r.private)
	if subtle.ConstantTimeCompare(key[:], lowOrderKey[:]) == 1 {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, errLowOrder)
	}
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
