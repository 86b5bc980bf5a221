package sink

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
)

// The template must render every counter exactly as Marshal does: the
// original's own sink.json, several signers, unknown members, extreme
// counters.
func TestStateTemplateMatchesMarshal(t *testing.T) {
	orig := func() *Config {
		path := privateCopy(t, t.TempDir(), "sink.json", vectors.Read(t, "sink.json"))
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	multi := func() *Config {
		return testConfig(t, t.TempDir(), func(c *Config) {
			for i := range 3 {
				c.Signers = append(c.Signers, SignerConfig{Name: fmt.Sprint("board", i), Signer: pkix(t, extraSigner(t, i)), Legacy: i == 1})
			}
		})
	}
	onlySigners := func() *Config {
		return testConfig(t, t.TempDir(), func(c *Config) {
			c.Signer = nil
			c.Signers = []SignerConfig{{Name: "a", Signer: pkix(t, extraSigner(t, 0))}, {Name: "b", Signer: pkix(t, extraSigner(t, 1))}}
		})
	}
	withUnknown := func() *Config {
		c := multi()
		data, _ := c.Marshal()
		data = bytes.Replace(data, []byte("{"), []byte(`{"Zeta": {"Counter": 5}, "Alpha": [1, 2],`), 1)
		path := privateCopy(t, t.TempDir(), "sink.json", data)
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, mk := range map[string]func() *Config{"original": orig, "multi": multi, "signers only": onlySigners, "unknown members": withUnknown} {
		t.Run(name, func(t *testing.T) {
			c := mk()
			k, err := c.compile()
			if err != nil {
				t.Fatal(err)
			}
			tmpl := newStateTemplate(c, k.primary)
			if tmpl == nil {
				t.Fatal("no template for an ordinary configuration")
			}
			n := len(k.counters)
			if len(tmpl.order) != n {
				t.Fatalf("template has %d counters, configuration %d", len(tmpl.order), n)
			}
			for round := range 50 {
				counters := make([]int64, n)
				for i := range counters {
					switch round {
					case 0:
						counters[i] = 0
					case 1:
						counters[i] = math.MaxInt64
					default:
						counters[i] = rand.Int64N(math.MaxInt64)
					}
				}
				setCounters(c, k.primary, func(i int) int64 { return counters[i] })
				want, err := c.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if got := tmpl.render(counters); !bytes.Equal(got, want) {
					t.Fatalf("counters %v: template renders\n%s\nMarshal gives\n%s", counters, got, want)
				}
			}
		})
	}
}

// A sentinel that also occurs elsewhere in the file (here in a signer's
// name) makes the template ambiguous: there must be none, so the committer
// falls back to Marshal.
func TestStateTemplateRefusesAmbiguity(t *testing.T) {
	c := testConfig(t, t.TempDir(), func(c *Config) {
		c.Signers = []SignerConfig{{Name: fmt.Sprint(int64(sentinelBase)), Signer: pkix(t, extraSigner(t, 0))}}
	})
	k, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	if tmpl := newStateTemplate(c, k.primary); tmpl != nil {
		t.Fatalf("template built although a sentinel occurs twice: %d parts", len(tmpl.parts))
	}
}

// Without a template the committer encodes the file itself: a counter
// still reaches the disk.
func TestStoreWithoutTemplate(t *testing.T) {
	k := vectorKeys(t)
	cfg := testConfig(t, t.TempDir(), func(c *Config) {
		c.Signers = []SignerConfig{{Name: fmt.Sprint(int64(sentinelBase)), Signer: pkix(t, extraSigner(t, 0))}}
	})
	s, addr := start(t, cfg, Options{Now: func() time.Time { return epoch }})
	if s.tmpl != nil {
		t.Fatal("template built for an ambiguous configuration")
	}
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 7, epoch)); st != packet.StatusAccepted {
		t.Fatalf("frame: %s", st)
	}
	if st, _ := send(t, addr, frame(t, extraSigner(t, 0), packet.Protocol2, k.sinkPublic, 3, epoch)); st != packet.StatusAccepted {
		t.Fatalf("second signer's frame: %s", st)
	}
	back, err := LoadConfig(cfg.Path())
	if err != nil {
		t.Fatal(err)
	}
	if back.Counter != 7 || back.Signers[0].Counter != 3 {
		t.Fatalf("stored counters %d and %d, want 7 and 3", back.Counter, back.Signers[0].Counter)
	}
}
