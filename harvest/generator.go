package harvest

import (
	"sync"

	"golang.org/x/crypto/chacha20"
)

// A Generator is a ChaCha20 generator with fast key erasure, safe for
// concurrent use. Every Read (and every maxChunk of a large one) runs
// ChaCha20 under the current key with a zero nonce, takes the first 32
// bytes of keystream as the next key, gives the caller the bytes after
// them, and overwrites the old key: state captured after a Read says
// nothing about the output already returned.
type Generator struct {
	mu  sync.Mutex
	key [seedSize]byte
}

// newGenerator returns a generator keyed with key. The caller should
// clear its copy.
func newGenerator(key [seedSize]byte) *Generator {
	return &Generator{key: key}
}

// Read fills p with generator output. It never fails.
func (g *Generator) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fill(p)
	return len(p), nil
}

// zeroBlock is the plaintext the keystream is XORed with; never written.
var zeroBlock [16 << 10]byte

// fill writes keystream into p, replacing the key before each chunk.
func (g *Generator) fill(p []byte) {
	var nonce [chacha20.NonceSize]byte
	for {
		c, err := chacha20.NewUnauthenticatedCipher(g.key[:], nonce[:])
		if err != nil {
			panic("harvest: chacha20: " + err.Error()) // sizes are constants
		}
		// The first block is the next key and the first 32 bytes of
		// output. Taking it whole leaves c on a block boundary, so the
		// rest never passes through the cipher's partial-block buffer.
		var first [blockSize]byte
		c.XORKeyStream(first[:], zeroBlock[:blockSize])
		n := min(len(p), maxChunk)
		k := copy(p[:n], first[seedSize:])
		xorZeros(c, p[k:n])
		g.key = [seedSize]byte(first[:seedSize])
		clear(first[:])
		erase(c)
		p = p[n:]
		if len(p) == 0 {
			return
		}
	}
}

// xorZeros writes c's next len(p) keystream bytes into p. It XORs them
// into a shared block of zeros rather than clearing p first: one pass
// over p instead of two.
func xorZeros(c *chacha20.Cipher, p []byte) {
	for len(p) > 0 {
		n := min(len(p), len(zeroBlock))
		c.XORKeyStream(p[:n], zeroBlock[:n])
		p = p[n:]
	}
}

// testHookErase, when a test sets it, is called with each cipher fill
// used, after erase has cleared it.
var testHookErase func(chacha20.Cipher)

// erase overwrites a cipher's copy of the key, its counter and any
// keystream it holds buffered.
func erase(c *chacha20.Cipher) {
	*c = chacha20.Cipher{}
	if testHookErase != nil {
		testHookErase(*c)
	}
}
