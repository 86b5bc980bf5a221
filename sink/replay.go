package sink

import (
	"crypto/sha256"
	"errors"
	"sync"

	"github.com/entropyshare/entropyshare/packet"
	"golang.org/x/time/rate"
)

// What a bad frame costs. Anyone can seal a frame to the sink's public
// key, and send the same bytes again and again. Opening one costs an
// X25519 and a box; a frame that opens costs an RSA verification per
// configured signer of its signature's size (protocol 2), a second for a
// signer marked Legacy (protocol 1), and one more for the legacy hint
// (packet.Recipient.Open). Two things bound that:
//
//   - The digests of the last payloads rejected as unverifiable or
//     malformed are remembered (SHA-256, replayCacheSize of them, oldest
//     out first): the same bytes again cost a hash and get the same
//     reply. The verdict on those bytes cannot change while the
//     configuration does not (no clock or counter decides it), and an
//     accepted payload is never remembered.
//   - The legacy hint, an operator's diagnostic, is worked out at most
//     once per hintEvery; other frames are opened without it.

// errReplay: the payload was rejected before, for the reason it wraps.
var errReplay = errors.New("sink: payload rejected before")

// replayError is a payload the cache remembers; it unwraps to errReplay
// and to the sentinel of its first rejection, which decides the reply.
type replayError struct{ first error }

func (e *replayError) Error() string   { return errReplay.Error() + ": " + e.first.Error() }
func (e *replayError) Unwrap() []error { return []error{errReplay, e.first} }

// cachedRejections are the sentinels whose payloads are remembered: the
// verdicts that depend on the bytes and the configuration alone.
var cachedRejections = []error{packet.ErrDecrypt, packet.ErrUnsigned, packet.ErrSignature, packet.ErrMalformed, packet.ErrChunkSize}

// replayCache is a fixed-size set of payload digests, first in, first
// out: size*32 bytes of ring and a map of as many entries.
type replayCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]error // the sentinel of the first rejection
	ring [][sha256.Size]byte
	next int
}

// reset forgets every payload: after a reload a new signer, or a new
// Legacy flag, may verify what was rejected before.
func (c *replayCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.seen)
	c.ring = c.ring[:0]
	c.next = 0
}

func newReplayCache(size int) *replayCache {
	return &replayCache{seen: make(map[[sha256.Size]byte]error, size), ring: make([][sha256.Size]byte, 0, size)}
}

func (c *replayCache) lookup(d [sha256.Size]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[d]
}

func (c *replayCache) add(d [sha256.Size]byte, sentinel error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[d]; ok {
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, d)
	} else {
		delete(c.seen, c.ring[c.next])
		c.ring[c.next] = d
		c.next = (c.next + 1) % len(c.ring)
	}
	c.seen[d] = sentinel
}

// newHintLimiter allows one legacy hint per hintEvery.
func newHintLimiter() *rate.Limiter { return rate.NewLimiter(rate.Every(hintEvery), 1) }

// check applies acceptance steps 2 to 5 to payload (compiled.check), but
// answers a payload rejected before from the cache, and works out the
// legacy hint only when the hint limiter allows (asked only when the hint
// would cost a verification).
func (s *Server) check(g *generation, payload []byte) (*opened, string, error) {
	var d [sha256.Size]byte
	if s.rejects != nil {
		d = sha256.Sum256(payload)
		if first := s.rejects.lookup(d); first != nil {
			return nil, "", &replayError{first: first}
		}
	}
	o, hint, err := g.k.check(payload, s.now(), g.drift, s.hints.Allow)
	if err != nil && s.rejects != nil {
		for _, sentinel := range cachedRejections {
			if errors.Is(err, sentinel) {
				s.rejects.add(d, sentinel)
				break
			}
		}
	}
	return o, hint, err
}

// compileReplay checks the ReplayCache setting of c.
func (c *Config) compileReplay(k *compiled) error {
	switch {
	case c.ReplayCache < -1:
		return fieldErr("ReplayCache", "%d, want -1 (off), 0 (the default, %d) or a number of payloads", c.ReplayCache, defaultReplayCache)
	case c.ReplayCache == -1:
		k.replayCache = 0
	case c.ReplayCache == 0:
		k.replayCache = defaultReplayCache
	default:
		k.replayCache = min(c.ReplayCache, maxReplayCache)
	}
	return nil
}
