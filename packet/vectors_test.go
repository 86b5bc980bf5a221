package packet

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

type vector struct {
	File        string `json:"file"`
	Valid       bool   `json:"valid"`
	Why         string `json:"why"`
	Timestamp   int64  `json:"timestamp"`
	Counter     int64  `json:"counter"`
	ChunkSHA256 string `json:"chunk_sha256"`
}

func loadVectors(t testing.TB) []vector {
	var vs []vector
	if err := json.Unmarshal(vectors.Read(t, "vectors.json"), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// vectorSink returns the original's sink key pair and signer, parsed
// directly (the keys package has its own tests of these files).
func vectorSink(t testing.TB) (*Recipient, *rsa.PrivateKey) {
	t.Helper()
	var priv [KeySize]byte
	copy(priv[:], vectors.Read(t, "sink.key"))
	r, err := NewRecipient(&priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Public()[:], vectors.Read(t, "sink.pub")) {
		t.Fatal("sink.pub is not the public key of sink.key")
	}
	k, err := x509.ParsePKCS1PrivateKey(vectors.Read(t, "signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	return r, k
}

// wantErr is the sentinel each invalid vector must be rejected with.
var wantErr = map[string]error{
	"wrong-recipient.frame": ErrDecrypt,
	"unsigned.frame":        ErrUnsigned,
	"wrong-signer.frame":    ErrSignature,
	"tampered.frame":        ErrDecrypt,
	"short-chunk.frame":     ErrChunkSize,
	"not-asn1.frame":        ErrMalformed,
	"truncated.frame":       ErrFrameSize,
}

func TestOriginalVectors(t *testing.T) {
	r, k := vectorSink(t)
	signers := []Signer{{Key: &k.PublicKey, Legacy: true}}
	for _, v := range loadVectors(t) {
		t.Run(v.File, func(t *testing.T) {
			frame := vectors.Read(t, v.File)
			op, err := openFrame(frame, r, signers)
			if !v.Valid {
				want, ok := wantErr[v.File]
				if !ok {
					t.Fatalf("no expected error for invalid vector %s (%s)", v.File, v.Why)
				}
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if op.Protocol != Protocol1 {
				t.Errorf("protocol = %v, want 1", op.Protocol)
			}
			if op.Packet.Counter != v.Counter || op.Packet.Timestamp != v.Timestamp {
				t.Errorf("counter, timestamp = %d, %d; want %d, %d", op.Packet.Counter, op.Packet.Timestamp, v.Counter, v.Timestamp)
			}
			sum := sha256.Sum256(op.Packet.Chunk[:])
			if got := hex.EncodeToString(sum[:]); got != v.ChunkSHA256 {
				t.Errorf("chunk sha256 = %s, want %s", got, v.ChunkSHA256)
			}
			// The original's acceptance rules, with an injected clock.
			now := time.Unix(v.Timestamp, 0)
			if err := check(op.Packet, now.Add(120*time.Second), 120, v.Counter-1); err != nil {
				t.Errorf("Check at the drift edge: %v", err)
			}
			if err := check(op.Packet, now.Add(121*time.Second), 120, v.Counter-1); !errors.Is(err, ErrDrift) {
				t.Errorf("Check past the drift: %v, want ErrDrift", err)
			}
			if err := check(op.Packet, now, 120, v.Counter); !errors.Is(err, ErrCounter) {
				t.Errorf("Check replay: %v, want ErrCounter", err)
			}
			// Re-encoding the packet gives the original's bytes.
			signed, err := r.openBox(frame[HeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			der, _, err := parseSigned(signed)
			if err != nil {
				t.Fatal(err)
			}
			again, err := op.Packet.marshalDER()
			if err != nil || !bytes.Equal(again, der) {
				t.Errorf("marshalDER does not reproduce the original's PacketDER (err %v)", err)
			}
		})
	}
}

// A sink that does not mark the original's signer as legacy refuses its
// protocol 1 frames.
func TestOriginalVectorsNeedLegacy(t *testing.T) {
	r, k := vectorSink(t)
	_, err := openFrame(vectors.Read(t, "valid-1.frame"), r, []Signer{{Key: &k.PublicKey}})
	if !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
}

func openFrame(frame []byte, r *Recipient, signers []Signer) (*Opened, error) {
	payload, err := ReadFrame(bytes.NewReader(frame), DefaultMaxFrame)
	if err != nil {
		return nil, err
	}
	return openWith(r, payload, signers)
}
