package packet

// Sizes fixed by the protocol (PROTOCOL.md).
const (
	// ChunkSize is the number of entropy bytes in every packet.
	ChunkSize = 1024

	// KeySize is the size of a Curve25519 key.
	KeySize = 32

	// NonceSize is the size of the NaCl box nonce.
	NonceSize = 24

	// Overhead is what sealing adds to SignedDER: the ephemeral public key,
	// the nonce and the Poly1305 tag.
	Overhead = KeySize + NonceSize + 16

	// MinFrame is the smallest payload a frame may announce: a box holding
	// nothing at all. Anything shorter cannot be a frame.
	MinFrame = Overhead

	// MaxFrameLimit is the largest payload a uint16 length can announce.
	MaxFrameLimit = 1<<16 - 1

	// HeaderSize is the size of the frame's length prefix.
	HeaderSize = 2

	// v2Context starts every protocol 2 signed message.
	v2Context = "entropyshare v2 packet"

	// v2SaltLength is the PSS salt length of protocol 2 signatures.
	v2SaltLength = 32
)

// Implementation limits and defaults, not part of the wire format.
const (
	// DefaultMaxFrame is the default upper bound on a payload a sink reads.
	// An RSA-8192 signer makes frames of about 2.2 KB.
	DefaultMaxFrame = 4096

	// MinRSABits and MaxRSABits bound the signer keys this package accepts.
	MinRSABits = 2048
	MaxRSABits = 8192
)

// Protocol identifies how a packet's signature was made.
type Protocol int

const (
	// Protocol1 is the original entropyshare signature over the packet alone.
	Protocol1 Protocol = 1
	// Protocol2 binds the signature to the recipient sink's public key.
	Protocol2 Protocol = 2
)

func (p Protocol) String() string {
	switch p {
	case Protocol1:
		return "1"
	case Protocol2:
		return "2"
	}
	return "unknown"
}

// Valid reports whether p is a protocol this package implements.
func (p Protocol) Valid() bool { return p == Protocol1 || p == Protocol2 }
