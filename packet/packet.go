package packet

import (
	"bytes"
	"encoding/asn1"
	"fmt"
)

// Packet is one unit of entropy sent from a source to a sink.
type Packet struct {
	Timestamp int64 // Unix seconds at creation
	Counter   int64 // strictly increasing per (source, sink)
	Chunk     [ChunkSize]byte
}

// wirePacket is the original's struct, which encoding/asn1 turns into
// PacketDER: SEQUENCE { INTEGER, INTEGER, OCTET STRING }.
type wirePacket struct {
	Timestamp int64
	Counter   int64
	Chunk     []byte
}

// wireSigned is SignedDER: SEQUENCE { OCTET STRING, OCTET STRING }.
type wireSigned struct {
	Message   []byte
	Signature []byte
}

// marshalDER returns PacketDER, byte for byte what the original writes.
func (p *Packet) marshalDER() ([]byte, error) {
	return asn1.Marshal(wirePacket{p.Timestamp, p.Counter, p.Chunk[:]})
}

// parsePacketDER parses PacketDER. It accepts only the exact encoding
// marshalDER produces: trailing bytes, non-canonical DER and a chunk of any
// length but ChunkSize are errors.
func parsePacketDER(der []byte) (*Packet, error) {
	var w wirePacket
	if err := unmarshalExact(der, &w); err != nil {
		return nil, fmt.Errorf("%w: PacketDER: %v", ErrMalformed, err)
	}
	if len(w.Chunk) != ChunkSize {
		return nil, fmt.Errorf("%w: chunk is %d bytes, want %d", ErrChunkSize, len(w.Chunk), ChunkSize)
	}
	p := &Packet{Timestamp: w.Timestamp, Counter: w.Counter}
	copy(p.Chunk[:], w.Chunk)
	return p, nil
}

func marshalSigned(message, signature []byte) ([]byte, error) {
	return asn1.Marshal(wireSigned{message, signature})
}

// parseSigned parses SignedDER exactly, returning the message and signature.
func parseSigned(der []byte) (message, signature []byte, err error) {
	var w wireSigned
	if err := unmarshalExact(der, &w); err != nil {
		return nil, nil, fmt.Errorf("%w: SignedDER: %v", ErrMalformed, err)
	}
	return w.Message, w.Signature, nil
}

// unmarshalExact decodes der into v and insists that der is exactly the
// encoding of the result: nothing trails it, and no BER leniency of
// encoding/asn1 lets two byte strings stand for one value.
func unmarshalExact(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes", len(rest))
	}
	again, err := asn1.Marshal(derefValue(v))
	if err != nil {
		return err
	}
	if !bytes.Equal(again, der) {
		return fmt.Errorf("not in canonical DER")
	}
	return nil
}

func derefValue(v any) any {
	switch v := v.(type) {
	case *wirePacket:
		return *v
	case *wireSigned:
		return *v
	}
	panic("packet: unmarshalExact of unexpected type")
}
