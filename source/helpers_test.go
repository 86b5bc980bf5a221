package source

import (
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
)

var (
	signerOnce sync.Once
	signerKey  *rsa.PrivateKey
)

// testSigner is the original's RSA-2048 signer key from the vectors.
func testSigner(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	signerOnce.Do(func() {
		var err error
		signerKey, err = keys.ParseRSAPrivate(vectors.Read(t, "signer.key"))
		if err != nil {
			t.Fatal(err)
		}
	})
	return signerKey
}

type entry = map[string]any

func mustLoad(t testing.TB, path string) *Targets {
	t.Helper()
	ts, err := LoadTargets(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// clock is an injectable clock; step is added after every reading.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func newClock() *clock { return &clock{now: time.Unix(time.Now().Unix(), 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// zeroReader reads zeros: no spread in schedules.
type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }
