package harvest

import (
	"sync"
	"time"

	"golang.org/x/crypto/chacha20"
	"lukechampine.com/blake3"
)

// A Generator is a ChaCha20 generator with fast key erasure, safe for
// concurrent use. Every Read (and every maxChunk of a large one) runs
// ChaCha20 under the current key with a zero nonce, takes the first 32
// bytes of keystream as the next key, gives the caller the bytes after
// them, and overwrites the old key: state captured after a Read says
// nothing about the output already returned.
type Generator struct {
	mu  sync.Mutex
	key [SeedSize]byte

	now       func() time.Time
	every     time.Duration
	reseedFn  func() ([]byte, error)
	last      time.Time
	reseedErr error
}

// NewGenerator returns a generator keyed with key. The caller should
// clear its copy.
func NewGenerator(key [SeedSize]byte) *Generator {
	return &Generator{key: key, now: time.Now}
}

// Read fills p with generator output. It never fails.
func (g *Generator) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maybeReseed()
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
		k := copy(p[:n], first[SeedSize:])
		xorZeros(c, p[k:n])
		g.key = [SeedSize]byte(first[:SeedSize])
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

// Reseed mixes material into the state: the new key is the BLAKE3
// derive-key (under reseedContext) of 32 bytes of generator output
// followed by material. Old and new entropy both count; neither can be
// undone by bad material.
func (g *Generator) Reseed(material []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reseed(material)
}

func (g *Generator) reseed(material []byte) {
	buf := make([]byte, SeedSize, SeedSize+len(material))
	g.fill(buf)
	buf = append(buf, material...)
	blake3.DeriveKey(g.key[:], reseedContext, buf)
	clear(buf)
	g.last = g.now()
}

// SetAutoReseed makes the first Read after every interval call fn and
// reseed with what it returns. When fn fails the generator keeps its
// state (still sound: it was seeded) and LastReseedError reports why.
// every <= 0 or fn nil turns automatic reseeding off.
func (g *Generator) SetAutoReseed(every time.Duration, fn func() ([]byte, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.every, g.reseedFn = every, fn
	g.last = g.now()
}

// LastReseedError returns the error of the last automatic reseed, or nil.
func (g *Generator) LastReseedError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reseedErr
}

func (g *Generator) maybeReseed() {
	if g.reseedFn == nil || g.every <= 0 || g.now().Sub(g.last) < g.every {
		return
	}
	material, err := g.reseedFn()
	g.reseedErr = err
	if err != nil {
		g.last = g.now() // try again after another interval, not on every Read
		return
	}
	g.reseed(material)
	clear(material)
}
