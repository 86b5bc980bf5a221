// Package packet implements the entropyshare wire format.
//
// # Frames
//
// A source opens a TCP connection, writes one frame and, in protocol 2,
// reads a status reply:
//
//	frame   = length(uint16, big-endian) payload
//	payload = ephemeral-public(32) || nonce(24) || box
//	box     = NaCl box (Curve25519, XSalsa20-Poly1305) of SignedDER
//
// SignedDER is an ASN.1 SEQUENCE of two OCTET STRINGs, the PacketDER and an
// RSASSA-PSS signature; PacketDER is a SEQUENCE of timestamp, counter and a
// 1024-byte chunk. Both are exactly what the original entropyshare's
// encoding/asn1 structs produce.
//
// # Protocols
//
// Protocol 1 is the original: the signature covers SHA-256(PacketDER) with
// the largest PSS salt the key allows. Protocol 2 signs
//
//	SHA-256("entropyshare v2 packet" || 0x00 || sinkPublic || PacketDER)
//
// with a 32-byte salt, binding the packet to the sink it was sealed to: a
// sink that opens a protocol 2 packet cannot re-seal it to a neighbour that
// shares its source and have it accepted there. Protocol 1 allows exactly
// that, which is why Open tries protocol 1 only for signers marked Legacy.
//
// # API
//
// A source calls Seal for each sink and writes the payload with WriteFrame;
// with protocol 2 it then reads the sink's reply with ReadStatus. A sink
// reads a payload with ReadFrame, opens it with its Recipient (which knows
// the signers it accepts), applies CheckDrift and CheckCounter with its
// own clock and state, and answers with WriteStatus (ReplyFor maps an error
// to its reply). Every rejection wraps one of the sentinel errors.
//
// Open costs one RSA verification per configured signer whose key size
// matches the signature, a second for a signer marked Legacy, and, for a
// packet no signer verified, one more: protocol 1 against the first such
// signer not marked Legacy, to report a likely missing Legacy flag
// (LegacyError). OpenHint spares that last one unless it is allowed.
//
// Nothing in this package touches files or the network: framing works on
// any io.Reader and io.Writer.
package packet
