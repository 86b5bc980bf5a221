package packet

import (
	"crypto"
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"

	//lint:ignore SA1019 NaCl box derives its key with HSalsa20; box.Precompute calls this same function (see RATIONALE.md).
	"golang.org/x/crypto/salsa20/salsa"
)

// Seal signs p under protocol proto with signer and seals it to the sink's
// Curve25519 public key with a fresh ephemeral key pair and a random
// nonce, returning the frame payload (without the length prefix; see
// WriteFrame). signer is an RSA key: an *rsa.PrivateKey, or a key held in a
// TPM. A low-order sink key, whose shared secret anyone knows, is refused.
func Seal(rand io.Reader, p *Packet, proto Protocol, signer crypto.Signer, sinkPublic *[KeySize]byte) ([]byte, error) {
	signed, err := sign(rand, p, proto, signer, sinkPublic)
	if err != nil {
		return nil, err
	}
	return sealBox(rand, signed, sinkPublic)
}

// sealBox seals msg to sinkPublic: ephemeral-public || nonce || box.
func sealBox(rand io.Reader, msg []byte, sinkPublic *[KeySize]byte) ([]byte, error) {
	var seed [KeySize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("packet: generating ephemeral key: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(seed[:])
	clear(seed[:])
	if err != nil {
		return nil, fmt.Errorf("packet: generating ephemeral key: %w", err)
	}
	key, err := boxKey(eph, sinkPublic[:])
	if err != nil {
		return nil, fmt.Errorf("packet: sink public key: %w", err)
	}
	defer clear(key[:])
	out := make([]byte, KeySize+NonceSize, Overhead+len(msg))
	copy(out, eph.PublicKey().Bytes())
	if _, err := io.ReadFull(rand, out[KeySize:]); err != nil {
		return nil, fmt.Errorf("packet: generating nonce: %w", err)
	}
	nonce := (*[NonceSize]byte)(out[KeySize:])
	return box.SealAfterPrecomputation(out, msg, nonce, &key), nil
}

var errLowOrder = errors.New("low-order public key")

// boxKey is NaCl box's shared key, what box.Precompute computes: HSalsa20
// of the X25519 secret. The private key is parsed once (a sink's, at
// start), so an open costs one scalar multiplication; box.Precompute and
// curve25519.X25519 derive the private key's public half again on every
// call, a second one. Unlike box.Precompute, it refuses a low-order public
// key, whose secret is all zeros and known to anyone (crypto/ecdh checks,
// as wireguard-go does).
func boxKey(private *ecdh.PrivateKey, public []byte) (key [KeySize]byte, err error) {
	pub, err := ecdh.X25519().NewPublicKey(public)
	if err != nil {
		return key, err
	}
	shared, err := private.ECDH(pub)
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

// Recipient is a sink's Curve25519 key pair and the signers it accepts
// packets from, ready to open frames.
type Recipient struct {
	private *ecdh.PrivateKey
	public  [KeySize]byte
	signers []Signer
}

// NewRecipient returns a Recipient for the sink's private key that accepts
// packets from signers. The slice is kept: Opened.Signer indexes it.
func NewRecipient(private *[KeySize]byte, signers []Signer) (*Recipient, error) {
	k, err := ecdh.X25519().NewPrivateKey(private[:])
	if err != nil {
		return nil, fmt.Errorf("packet: sink private key: %w", err)
	}
	for i, s := range signers {
		if s.Key == nil {
			return nil, fmt.Errorf("packet: signer %d has no key", i)
		}
	}
	r := &Recipient{private: k, signers: signers}
	copy(r.public[:], k.PublicKey().Bytes())
	return r, nil
}

// Public returns the recipient's public key.
func (r *Recipient) Public() *[KeySize]byte {
	pub := r.public
	return &pub
}

// Open opens a frame payload sealed to r and verifies its signature (see
// Recipient for the order). It does not check drift or counter: those
// need the sink's clock and state (CheckDrift, CheckCounter).
func (r *Recipient) Open(payload []byte) (*Opened, error) {
	signed, err := r.openBox(payload)
	if err != nil {
		return nil, err
	}
	return verify(signed, &r.public, r.signers, always)
}

func always() bool { return true }

// OpenHint is Open with the legacy hint's verification only when allow,
// asked only for a packet no signer verified that has a candidate for the
// hint, returns true; otherwise such a packet is ErrSignature, never a
// LegacyError. A nil allow never allows it. A sink flooded with bad frames
// needs the hint now and then, not once per frame, and its good frames
// must not use up the allowance.
func (r *Recipient) OpenHint(payload []byte, allow func() bool) (*Opened, error) {
	signed, err := r.openBox(payload)
	if err != nil {
		return nil, err
	}
	return verify(signed, &r.public, r.signers, allow)
}

// openBox opens a frame payload sealed to r and returns SignedDER. A
// low-order ephemeral key is refused: box.Open would accept it.
func (r *Recipient) openBox(payload []byte) ([]byte, error) {
	if len(payload) < Overhead {
		return nil, fmt.Errorf("%w: payload is %d bytes, want at least %d", ErrFrameSize, len(payload), Overhead)
	}
	key, err := boxKey(r.private, payload[:KeySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	nonce := (*[NonceSize]byte)(payload[KeySize : KeySize+NonceSize])
	msg, ok := box.OpenAfterPrecomputation(nil, payload[KeySize+NonceSize:], nonce, &key)
	clear(key[:])
	if !ok {
		return nil, ErrDecrypt
	}
	return msg, nil
}
