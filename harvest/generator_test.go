package harvest

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20"
)

// keystream is ChaCha20 under key with a zero nonce, bytes [off, off+n).
func keystream(key [seedSize]byte, off, n int) []byte {
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
	var k [seedSize]byte
	k[0] = 1
	g := newGenerator(k)
	out := read(t, g, 100)
	if !bytes.Equal(out, keystream(k, 32, 100)) {
		t.Fatal("output is not the keystream after the next key")
	}
	var next [seedSize]byte
	copy(next[:], keystream(k, 0, 32))
	if g.key != next {
		t.Fatal("the next key is not the first 32 keystream bytes")
	}
	big := read(t, g, maxChunk+100)
	var k2 [seedSize]byte
	copy(k2[:], keystream(next, 0, 32))
	if !bytes.Equal(big[:maxChunk], keystream(next, 32, maxChunk)) || !bytes.Equal(big[maxChunk:], keystream(k2, 32, 100)) {
		t.Fatal("a large read does not rekey at maxChunk")
	}
	if n, err := g.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
}

func TestGeneratorsDiffer(t *testing.T) {
	var a, b [seedSize]byte
	b[31] = 0x80 // one bit apart
	if bytes.Equal(read(t, newGenerator(a), 64), read(t, newGenerator(b), 64)) {
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

// TestFastKeyErasure: state captured after a read cannot give back what
// was read; it gives what comes next.
func TestFastKeyErasure(t *testing.T) {
	var k [seedSize]byte
	copy(k[:], "a key that an attacker never saw")
	g := newGenerator(k)
	returned := read(t, g, 4096)

	g.mu.Lock()
	captured := g.key // an attacker's snapshot of the whole state
	g.mu.Unlock()
	if captured == k {
		t.Fatal("the key was not replaced")
	}
	clone := newGenerator(captured)
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
	var k [seedSize]byte
	g := newGenerator(k)
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

// reference is the construction written the plain way, one cipher per
// chunk: n bytes of output from key and the key after.
func reference(key [seedSize]byte, n int) ([]byte, [seedSize]byte) {
	var out []byte
	for {
		k := min(n, maxChunk)
		ks := keystream(key, 0, seedSize+k)
		out = append(out, ks[seedSize:]...)
		copy(key[:], ks[:seedSize])
		if n -= k; n == 0 {
			return out, key
		}
	}
}

// countErased counts the ciphers erase clears for the rest of the test,
// failing it if one is not all zeros afterwards.
func countErased(t *testing.T) func() int {
	var mu sync.Mutex
	n := 0
	testHookErase = func(c chacha20.Cipher) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if c != (chacha20.Cipher{}) {
			t.Error("a cipher was not erased")
		}
	}
	t.Cleanup(func() { testHookErase = nil })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestGeneratorSizes: reads of sizes around the block and chunk
// boundaries give exactly the bytes, and leave exactly the key, of the
// plain construction.
func TestGeneratorSizes(t *testing.T) {
	sizes := []int{
		0, 1, 31, 32, 33, 63, 64, 65, 4096, 100_003,
		maxChunk - 1, maxChunk, maxChunk + 1, maxChunk + 31, maxChunk + 32, maxChunk + 33,
		2*maxChunk - 1, 2 * maxChunk, 2*maxChunk + 7,
	}
	var key [seedSize]byte
	copy(key[:], "every size must match the plain.")
	g := newGenerator(key)
	for _, n := range sizes {
		want, next := reference(g.key, n)
		got := make([]byte, n)
		for i := range got {
			got[i] = 0xa5 // every byte must be written, not left alone
		}
		g.Read(got)
		if !bytes.Equal(got, want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			t.Fatalf("%d bytes: output differs from the plain keystream at byte %d", n, i)
		}
		if g.key != next {
			t.Fatalf("%d bytes: the next key differs from the plain construction's", n)
		}
	}
}

// TestGeneratorConcurrentLarge: concurrent Reads of sizes small and large
// never return the same 64-byte block twice (a key or a block counter
// used twice would). Run it with -race.
func TestGeneratorConcurrentLarge(t *testing.T) {
	var k [seedSize]byte
	g := newGenerator(k)
	sizes := []int{32, 4096, 256<<10 - 1, 256 << 10, 384<<10 + 64, 200_000}
	const workers, reads = 4, 12
	var mu sync.Mutex
	seen := make(map[[64]byte]bool)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range reads {
				b := make([]byte, sizes[(w+i)%len(sizes)])
				g.Read(b)
				mu.Lock()
				for off := 0; off+64 <= len(b); off += 64 {
					blk := [64]byte(b[off : off+64])
					if seen[blk] {
						t.Errorf("a %d-byte read repeated a block at offset %d", len(b), off)
					}
					seen[blk] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestFastKeyErasureLarge is TestFastKeyErasure for a read that spans two
// chunks: the captured state cannot give back the output, and the cipher
// of each chunk was erased.
func TestFastKeyErasureLarge(t *testing.T) {
	erased := countErased(t)
	var k [seedSize]byte
	copy(k[:], "another key no attacker ever saw")
	g := newGenerator(k)
	n := maxChunk + 384<<10 + 5
	_, k2 := reference(k, maxChunk) // the second chunk's key
	returned := read(t, g, n)
	if erased() != 2 {
		t.Fatalf("%d ciphers erased, want 2 (one per chunk)", erased())
	}

	g.mu.Lock()
	captured := g.key
	g.mu.Unlock()
	if captured == k || captured == k2 {
		t.Fatal("a key used for the read is still the state")
	}
	clone := newGenerator(captured)
	fromCapture := read(t, clone, n)
	if bytes.Equal(fromCapture, returned) {
		t.Fatal("the captured state regenerates earlier output")
	}
	// No piece of the output appears in what the captured key makes.
	ks := keystream(captured, 0, 2*maxChunk)
	for off := 0; off+32 <= n; off += 128<<10 - 1 {
		if bytes.Contains(ks, returned[off:off+32]) {
			t.Fatalf("output at %d appears in the captured key's keystream", off)
		}
	}
	if !bytes.Equal(read(t, g, n), fromCapture) {
		t.Fatal("the snapshot is not the whole state")
	}
}
