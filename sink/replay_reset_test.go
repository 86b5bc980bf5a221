package sink

import (
	"crypto/sha256"
	"testing"

	"github.com/entropyshare/entropyshare/packet"
)

// A reload clears the replay cache: a signer added by it may verify a
// payload that was rejected before, which must then be judged afresh.
func TestReplayCacheReset(t *testing.T) {
	c := newReplayCache(2)
	a, b, d := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("d"))
	c.add(a, packet.ErrSignature)
	c.add(b, packet.ErrSignature)
	if c.lookup(a) == nil || c.lookup(b) == nil {
		t.Fatal("rejected payloads not remembered")
	}
	c.reset()
	if c.lookup(a) != nil || c.lookup(b) != nil {
		t.Fatal("remembered after reset")
	}
	c.add(d, packet.ErrMalformed)
	c.add(a, packet.ErrSignature)
	c.add(b, packet.ErrSignature) // evicts d, the oldest
	if c.lookup(d) != nil || c.lookup(a) == nil || c.lookup(b) == nil {
		t.Fatal("eviction after reset")
	}
}
