package packet

import (
	"crypto/ecdh"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"
	//lint:ignore SA1019 NaCl box derives its key with HSalsa20; box.Precompute calls this same function (see RATIONALE.md).
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
// A low-order sink key, whose shared secret anyone knows, is refused.
func SealBox(rand io.Reader, msg []byte, sinkPublic *[KeySize]byte) ([]byte, error) {
	s, err := NewSealer(rand, sinkPublic)
	if err != nil {
		return nil, err
	}
	return s.Seal(msg), nil
}

// A Sealer seals one message to one sink. Everything sealing costs but the
// box itself (an ephemeral key pair and the box key: two X25519
// multiplications, ~0.1 ms here) needs no message, so a source makes its
// Sealer while the packet is being signed, on another core.
type Sealer struct {
	header [KeySize + NonceSize]byte // ephemeral public key || nonce
	key    [KeySize]byte
	used   bool
}

// NewSealer makes a fresh ephemeral key pair, the box key it shares with
// sinkPublic and a random nonce. A low-order sink key, whose shared secret
// anyone knows, is refused.
func NewSealer(rand io.Reader, sinkPublic *[KeySize]byte) (*Sealer, error) {
	var seed [KeySize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("packet: generating ephemeral key: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(seed[:])
	clear(seed[:])
	if err != nil {
		return nil, fmt.Errorf("packet: generating ephemeral key: %w", err)
	}
	sink, err := ecdh.X25519().NewPublicKey(sinkPublic[:])
	if err != nil {
		return nil, fmt.Errorf("packet: sink public key: %w", err)
	}
	s := &Sealer{}
	if s.key, err = boxKey(eph, sink); err != nil {
		return nil, fmt.Errorf("packet: sink public key: %w", err)
	}
	copy(s.header[:], eph.PublicKey().Bytes())
	if _, err := io.ReadFull(rand, s.header[KeySize:]); err != nil {
		s.Erase()
		return nil, fmt.Errorf("packet: generating nonce: %w", err)
	}
	return s, nil
}

// Seal returns ephemeral-public || nonce || box of msg and erases the box
// key. A Sealer seals once: its nonce must never box a second message
// under its key, and a second call panics.
func (s *Sealer) Seal(msg []byte) []byte {
	if s.used {
		panic("packet: Sealer used twice")
	}
	defer s.Erase()
	out := make([]byte, len(s.header), Overhead+len(msg))
	copy(out, s.header[:])
	nonce := (*[NonceSize]byte)(s.header[KeySize:])
	return box.SealAfterPrecomputation(out, msg, nonce, &s.key)
}

// Erase erases the box key of a Sealer that will not seal; it cannot seal
// afterwards.
func (s *Sealer) Erase() {
	clear(s.key[:])
	s.used = true
}

// boxKey is NaCl box's shared key (box.Precompute): HSalsa20 of the X25519
// secret. box.Precompute goes through curve25519.ScalarMult, which derives
// the private key's public half again on every call, a second scalar
// multiplication per packet; here each key is parsed once by the caller.
// A low-order public key, whose secret is all zeros and known to anyone,
// is refused (the check wireguard-go makes on the X25519 result).
func boxKey(private *ecdh.PrivateKey, public *ecdh.PublicKey) (key [KeySize]byte, err error) {
	shared, err := private.ECDH(public)
	if err != nil {
		return key, errLowOrder
	}
	var secret [KeySize]byte
	var zero [16]byte
	copy(secret[:], shared)
	clear(shared)
	salsa.HSalsa20(&key, &zero, &secret, &salsa.Sigma)
	clear(secret[:])
	return key, nil
}

// Recipient is a sink's Curve25519 key pair, ready to open boxes.
type Recipient struct {
	private *ecdh.PrivateKey
	public  [KeySize]byte
}

// NewRecipient derives the public key of private.
func NewRecipient(private *[KeySize]byte) (*Recipient, error) {
	k, err := ecdh.X25519().NewPrivateKey(private[:])
	if err != nil {
		return nil, fmt.Errorf("packet: sink private key: %w", err)
	}
	r := &Recipient{private: k}
	copy(r.public[:], k.PublicKey().Bytes())
	return r, nil
}

// Public returns the recipient's public key.
func (r *Recipient) Public() *[KeySize]byte {
	pub := r.public
	return &pub
}

var errLowOrder = errors.New("low-order ephemeral key")

// OpenBox opens a frame payload sealed to r and returns SignedDER. A
// low-order ephemeral key is refused: box.Open would accept it.
func (r *Recipient) OpenBox(payload []byte) ([]byte, error) {
	if len(payload) < Overhead {
		return nil, fmt.Errorf("%w: payload is %d bytes, want at least %d", ErrFrameSize, len(payload), Overhead)
	}
	eph, err := ecdh.X25519().NewPublicKey(payload[:KeySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	key, err := boxKey(r.private, eph)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
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
