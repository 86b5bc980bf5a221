package source

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// BenchmarkRun measures one whole run (lock, load, harvest, write-ahead,
// sign, seal, push, final write) to 1, 10 and 100 sinks on loopback that
// answer 0x00 without opening anything, next to the crypto bound: targets x
// RSA-2048 signing time / cores, the signing time measured in the same
// benchmark. One signature cannot be split across cores, so the bound is
// rounded up to whole signatures per core: ceil(targets / cores) x signing
// time (the same figure for an even number of targets). A run also makes
// two durable writes of the targets file (write-ahead, overlapped with
// signing, and the final rewrite, which cannot be): floor-ns adds one
// measured durable write to the bound. Metrics: ns/op (wall time of a
// run), bound-ns, x-bound (their ratio), floor-ns, write-ns (one durable
// write), peak-heap-B (the largest live heap above the idle heap during a
// run).
func BenchmarkRun(b *testing.B) {
	key := testSigner(b)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("sinks=%d", n), func(b *testing.B) {
			var entries []entry
			for range n {
				s := sourcetest.Start(b, sourcetest.Blind, &key.PublicKey)
				entries = append(entries, sourcetest.Entry(s, nil))
			}
			path := filepath.Join(b.TempDir(), "targets.json")
			fresh := sourcetest.WriteTargets(b, path, entries)
			sign := signTime(b)
			write := writeTime(b, path)
			cfg := Config{Targets: path, Signer: key}
			var peak int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := os.WriteFile(path, fresh, 0o644); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				stop := sampleHeap(&peak)
				b.StartTimer()
				rep, err := Run(context.Background(), cfg)
				b.StopTimer()
				stop()
				if err != nil || rep.Failed() != 0 || len(rep.Results) != n {
					b.Fatalf("run: %v %+v", err, rep)
				}
				b.StartTimer()
			}
			perRun := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			cores := runtime.GOMAXPROCS(0)
			bound := float64((n+cores-1)/cores) * float64(sign.Nanoseconds())
			b.ReportMetric(bound, "bound-ns")
			b.ReportMetric(perRun/bound, "x-bound")
			b.ReportMetric(bound+float64(write.Nanoseconds()), "floor-ns")
			b.ReportMetric(float64(write.Nanoseconds()), "write-ns")
			b.ReportMetric(float64(sign.Nanoseconds()), "sign-ns")
			b.ReportMetric(float64(peak), "peak-heap-B")
		})
	}
}

// signTime measures one protocol 2 RSA-2048 signature of a packet: the
// fastest of five batches, so that a moment of noise cannot inflate the
// bound the run is held to.
func signTime(b *testing.B) time.Duration {
	key := testSigner(b)
	p := &packet.Packet{Timestamp: time.Now().Unix(), Counter: 1}
	var pub [packet.KeySize]byte
	const n = 20
	best := time.Duration(1 << 62)
	for range 5 {
		start := time.Now()
		for i := range n {
			p.Counter = int64(i + 1)
			if _, err := packet.Sign(rand.Reader, p, packet.Protocol2, key, &pub); err != nil {
				b.Fatal(err)
			}
		}
		best = min(best, time.Since(start)/n)
	}
	return best
}

// writeTime measures one durable rewrite of the targets file at path, as a
// run makes it (temp file, fsync, rename, folder fsync).
func writeTime(b *testing.B, path string) time.Duration {
	ts, err := LoadTargets(path)
	if err != nil {
		b.Fatal(err)
	}
	scratch := filepath.Join(b.TempDir(), "targets.json")
	const n = 20
	start := time.Now()
	for range n {
		if err := ts.Save(scratch); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / n
}

// sampleHeap records, until stop is called, the largest live heap above
// the heap at the start into *peak (kept as the maximum over calls).
func sampleHeap(peak *int64) (stop func()) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(samples)
		return int64(samples[0].Value.Uint64())
	}
	base := read()
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			if d := read() - base; d > *peak {
				*peak = d
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}
