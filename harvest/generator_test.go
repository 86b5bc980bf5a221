package harvest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20"
)

// keystream is ChaCha20 under key with a zero nonce, bytes [off, off+n).
func keystream(key [SeedSize]byte, off, n int) []byte {
	c, _ := chacha20.NewUnauthenticatedCipher(key[:], make([]byte, chacha20.NonceSize))
	buf := make([]byte, off+n)
	c.XORKeyStream(buf, buf)
	return buf[off:]
}

func read(t testing.TB, g *Generator, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if k, err := g.Read(b); k != n || err != nil {
		t.Fatalf("Read = %d, %v", k, err)
	}
	return b
}

// TestGeneratorConstruction pins the construction: output is ChaCha20
// keystream after the first 32 bytes, which become the next key; large
// reads rekey every maxChunk.
func TestGeneratorConstruction(t *testing.T) {
	var k [SeedSize]byte
	k[0] = 1
	g := NewGenerator(k)
	out := read(t, g, 100)
	if !bytes.Equal(out, keystream(k, 32, 100)) {
		t.Fatal("output is not the keystream after the next key")
	}
	var next [SeedSize]byte
	copy(next[:], keystream(k, 0, 32))
	if g.key != next {
		t.Fatal("the next key is not the first 32 keystream bytes")
	}
	big := read(t, g, maxChunk+100)
	var k2 [SeedSize]byte
	copy(k2[:], keystream(next, 0, 32))
	if !bytes.Equal(big[:maxChunk], keystream(next, 32, maxChunk)) || !bytes.Equal(big[maxChunk:], keystream(k2, 32, 100)) {
		t.Fatal("a large read does not rekey at maxChunk")
	}
	if n, err := g.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
}

func TestGeneratorsDiffer(t *testing.T) {
	var a, b [SeedSize]byte
	b[31] = 0x80 // one bit apart
	if bytes.Equal(read(t, NewGenerator(a), 64), read(t, NewGenerator(b), 64)) {
		t.Fatal("generators with different keys agree")
	}
	// Two real harvests, same configuration, no seed file.
	cfg := Config{Sources: []string{"kernel", "jitter"}}
	g1, _, err := Harvest(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	g2, _, err := Harvest(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(read(t, g1, 64), read(t, g2, 64)) {
		t.Fatal("two harvests gave the same output")
	}
}

func TestGeneratorReseed(t *testing.T) {
	var k [SeedSize]byte
	g1, g2, g3 := NewGenerator(k), NewGenerator(k), NewGenerator(k)
	g2.Reseed([]byte("new material"))
	g3.Reseed(nil)
	o1, o2, o3 := read(t, g1, 64), read(t, g2, 64), read(t, g3, 64)
	if bytes.Equal(o1, o2) || bytes.Equal(o1, o3) || bytes.Equal(o2, o3) {
		t.Fatal("reseeding did not change the output")
	}
}

// TestFastKeyErasure: state captured after a read cannot give back what
// was read; it gives what comes next.
func TestFastKeyErasure(t *testing.T) {
	var k [SeedSize]byte
	copy(k[:], "a key that an attacker never saw")
	g := NewGenerator(k)
	returned := read(t, g, 4096)

	g.mu.Lock()
	captured := g.key // an attacker's snapshot of the whole state
	g.mu.Unlock()
	if captured == k {
		t.Fatal("the key was not replaced")
	}
	clone := NewGenerator(captured)
	fromCapture := read(t, clone, 4096)
	if bytes.Equal(fromCapture, returned) {
		t.Fatal("the captured state regenerates earlier output")
	}
	// Nor anywhere in the keystream the captured key makes.
	if bytes.Contains(keystream(captured, 0, 1<<16), returned[:32]) {
		t.Fatal("earlier output appears in the captured key's keystream")
	}
	// The snapshot is the whole state: it predicts the next output.
	if !bytes.Equal(read(t, g, 4096), fromCapture) {
		t.Fatal("the snapshot is not the whole state")
	}
}

func TestGeneratorConcurrent(t *testing.T) {
	var k [SeedSize]byte
	g := NewGenerator(k)
	const workers, reads = 8, 200
	var mu sync.Mutex
	seen := make(map[[32]byte]bool)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range reads {
				var b [32]byte
				g.Read(b[:])
				mu.Lock()
				if seen[b] {
					t.Error("two reads returned the same bytes")
				}
				seen[b] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*reads {
		t.Fatalf("%d distinct reads, want %d", len(seen), workers*reads)
	}
}

func TestGeneratorAutoReseed(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var k [SeedSize]byte
	g := NewGenerator(k)
	g.now = func() time.Time { return now }
	calls := 0
	fail := false
	g.SetAutoReseed(time.Hour, func() ([]byte, error) {
		calls++
		if fail {
			return nil, errors.New("no sources")
		}
		return []byte("fresh"), nil
	})
	ref := NewGenerator(k)
	if !bytes.Equal(read(t, g, 32), read(t, ref, 32)) || calls != 0 {
		t.Fatal("reseeded before the interval")
	}
	now = now.Add(time.Hour)
	if bytes.Equal(read(t, g, 32), read(t, ref, 32)) || calls != 1 {
		t.Fatalf("no reseed after the interval (%d calls)", calls)
	}
	read(t, g, 32)
	if calls != 1 {
		t.Fatal("reseeded twice in one interval")
	}
	fail = true
	now = now.Add(2 * time.Hour)
	read(t, g, 32)
	if calls != 2 || g.LastReseedError() == nil {
		t.Fatal("a failed reseed was not recorded")
	}
	read(t, g, 32)
	if calls != 2 {
		t.Fatal("a failed reseed is retried on every read")
	}
}
