package sink

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
)

// The original's frames, judged by a decoder for the original's sink.json
// (made Legacy: its frames are protocol 1).
func TestDecodeVectors(t *testing.T) {
	var vs []struct {
		File        string `json:"file"`
		Valid       bool   `json:"valid"`
		Timestamp   int64  `json:"timestamp"`
		Counter     int64  `json:"counter"`
		ChunkSHA256 string `json:"chunk_sha256"`
	}
	json.Unmarshal(vectors.Read(t, "vectors.json"), &vs)
	want := map[string]string{
		"wrong-recipient.frame": "decrypt", "unsigned.frame": "unsigned", "wrong-signer.frame": "signature",
		"tampered.frame": "decrypt", "short-chunk.frame": "chunk-size", "not-asn1.frame": "malformed",
		"truncated.frame": "frame-size",
	}
	cfg, err := ParseConfig(vectors.Read(t, "sink.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Legacy = true
	d, err := NewDecoder(cfg, func() time.Time { return time.Unix(1700000060, 0) })
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		got := d.Decode(bytes.NewReader(vectors.Read(t, v.File)))
		if v.Valid {
			sum := sha256.Sum256(got.Packet.Chunk[:])
			if got.Err != nil || got.Protocol != packet.Protocol1 || got.Packet.Counter != v.Counter ||
				got.Packet.Timestamp != v.Timestamp || hex.EncodeToString(sum[:]) != v.ChunkSHA256 {
				t.Errorf("%s: %+v", v.File, got)
			}
		} else if got.Reason() != want[v.File] {
			t.Errorf("%s: reason %q, want %q (%v)", v.File, got.Reason(), want[v.File], got.Err)
		}
	}
	// Judged in order: a replay of an accepted frame is a counter rejection.
	if got := d.Decode(bytes.NewReader(vectors.Read(t, "valid-2.frame"))); got.Reason() != "counter" {
		t.Fatalf("replay: %v", got.Err)
	}
	// Without Legacy the same frames fail the signature check, with a hint.
	cfg.Legacy = false
	d, _ = NewDecoder(cfg, func() time.Time { return time.Unix(1700000060, 0) })
	if got := d.Decode(bytes.NewReader(vectors.Read(t, "valid-1.frame"))); got.Reason() != "signature" || got.Hint == "" {
		t.Fatalf("non-legacy: %v %q", got.Err, got.Hint)
	}
}
