package source

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// BenchmarkRun measures one whole run (lock, load, harvest, reservation,
// signing, sealing, pushing, record) to 1, 10 and 100 sinks on loopback
// that answer 0x00 without opening anything, with the default key size
// (RSA-3072) and with the original's RSA-2048 signer key. The numbers are
// information for `make bench`, not a target.
func BenchmarkRun(b *testing.B) {
	default3072, err := keys.GenerateRSA(rand.Reader, keys.DefaultRSABits)
	if err != nil {
		b.Fatal(err)
	}
	for _, signer := range []struct {
		name string
		key  *rsa.PrivateKey
	}{{"rsa3072", default3072}, {"rsa2048", testSigner(b)}} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/sinks=%d", signer.name, n), func(b *testing.B) {
				benchmarkRun(b, signer.key, n)
			})
		}
	}
}

func benchmarkRun(b *testing.B, key *rsa.PrivateKey, n int) {
	var entries []entry
	for range n {
		s := sourcetest.Start(b, sourcetest.Blind, &key.PublicKey)
		entries = append(entries, sourcetest.Entry(s, nil))
	}
	// On disk beside the package's source, so that an fsync costs what it
	// costs: the system's temporary folder may be tmpfs (Debian 13).
	dir, err := os.MkdirTemp(".", ".bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(b, path, entries)
	// Each run finds the file the last one left, as cron runs do, with
	// the clock moved on so that every target is due again.
	now := time.Now()
	cfg := Config{Targets: path, Signer: key, now: func() time.Time { return now }}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(DefaultInterval + DefaultInterval/spreadDivisor + time.Minute)
		rep, err := Run(context.Background(), cfg)
		if err != nil || rep.Failed() != 0 || len(rep.Results) != n {
			b.Fatalf("run: %v %+v", err, rep)
		}
	}
}
