package packet

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

// The fuzz targets are seeded from the original's frames and their layers.

func vectorFrames(t testing.TB) [][]byte {
	var out [][]byte
	for _, v := range loadVectors(t) {
		out = append(out, vectors.Read(t, v.File))
	}
	return out
}

// FuzzReadFrame: ReadFrame never panics, never returns a payload outside
// the bounds, and a payload it returns re-frames to the bytes it read.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range vectorFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte{0, 71})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		payload, err := ReadFrame(r, DefaultMaxFrame)
		if err != nil {
			if !errors.Is(err, ErrFrameSize) {
				t.Fatalf("error wraps no ErrFrameSize: %v", err)
			}
			return
		}
		if len(payload) < MinFrame || len(payload) > DefaultMaxFrame {
			t.Fatalf("payload of %d bytes", len(payload))
		}
		var buf bytes.Buffer
		if err := WriteFrame(&buf, payload); err != nil {
			t.Fatal(err)
		}
		if consumed := len(data) - r.Len(); !bytes.Equal(buf.Bytes(), data[:consumed]) {
			t.Fatal("re-framed payload differs from the input")
		}
	})
}

// FuzzOpen runs whole payloads through the sink's opening path with the
// original's keys: whatever the input, Open fails with a sentinel or yields
// a packet that re-encodes.
func FuzzOpen(f *testing.F) {
	for _, fr := range vectorFrames(f) {
		if len(fr) > HeaderSize {
			f.Add(fr[HeaderSize:])
		}
	}
	r, k := vectorSink(f)
	signers := []Signer{{Key: &k.PublicKey, Legacy: true}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		op, err := openWith(r, payload, signers)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if _, err := op.Packet.marshalDER(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzSignedDER: parseSigned accepts only what re-encodes to the same bytes.
func FuzzSignedDER(f *testing.F) {
	r, _ := vectorSink(f)
	for _, fr := range vectorFrames(f) {
		if len(fr) <= HeaderSize {
			continue
		}
		if signed, err := r.openBox(fr[HeaderSize:]); err == nil {
			f.Add(signed)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, sig, err := parseSigned(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := marshalSigned(msg, sig)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("SignedDER does not re-encode to its input (%v)", err)
		}
	})
}

// FuzzPacketDER: parsePacketDER accepts only what marshalDER reproduces.
func FuzzPacketDER(f *testing.F) {
	r, _ := vectorSink(f)
	for _, fr := range vectorFrames(f) {
		if len(fr) <= HeaderSize {
			continue
		}
		if signed, err := r.openBox(fr[HeaderSize:]); err == nil {
			if msg, _, err := parseSigned(signed); err == nil {
				f.Add(msg)
			}
		}
	}
	p := &Packet{Timestamp: -1, Counter: 1 << 62}
	rand.Read(p.Chunk[:])
	der, _ := p.marshalDER()
	f.Add(der)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePacketDER(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChunkSize) {
				t.Fatalf("error is neither ErrMalformed nor ErrChunkSize: %v", err)
			}
			return
		}
		again, err := p.marshalDER()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("PacketDER does not re-encode to its input (%v)", err)
		}
	})
}
