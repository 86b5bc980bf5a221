package source

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
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
// RSA-2048 signing time / cores.
//
// The bound is measured, not computed from one figure: before every run,
// with the timer stopped, one goroutine per core signs its share of the
// run's packets (ceil(targets / cores) each: a signature cannot be split
// across cores) and the wall time of that is the run's bound. This machine
// signs about a third slower under sustained load than in a short burst
// (1.0 ms against 1.35 ms for RSA-2048 here), so a bound taken once, apart
// from the runs, measured the clock speed as much as the source.
//
// A run also makes two writes of the targets file: the durable write-ahead,
// overlapped with signing, and the final atomic rewrite, which cannot be
// overlapped (it records the outcome). floor-ns adds one measured final
// rewrite to the bound.
//
// Metrics: ns/op (wall time of a run), bound-ns (mean of the samples),
// x-bound (their ratio), floor-ns, write-ns (one final rewrite), sign-ns
// (one signature, from the samples), peak-heap-B (the largest live heap
// above the idle heap during a run).
func BenchmarkRun(b *testing.B) {
	key := testSigner(b)
	cores := runtime.GOMAXPROCS(0)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("sinks=%d", n), func(b *testing.B) {
			var entries []entry
			for range n {
				s := sourcetest.Start(b, sourcetest.Blind, &key.PublicKey)
				entries = append(entries, sourcetest.Entry(s, nil))
			}
			path := filepath.Join(b.TempDir(), "targets.json")
			fresh := sourcetest.WriteTargets(b, path, entries)
			write := writeTime(b, path)
			cfg := Config{Targets: path, Signer: key}
			perCore := (n + cores - 1) / cores
			var peak int64
			var bound time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := os.WriteFile(path, fresh, 0o644); err != nil {
					b.Fatal(err)
				}
				bound += signAll(b, key, n, cores)
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
			boundNS := float64(bound.Nanoseconds()) / float64(b.N)
			b.ReportMetric(boundNS, "bound-ns")
			b.ReportMetric(perRun/boundNS, "x-bound")
			b.ReportMetric(boundNS+float64(write.Nanoseconds()), "floor-ns")
			b.ReportMetric(float64(write.Nanoseconds()), "write-ns")
			b.ReportMetric(boundNS/float64(perCore), "sign-ns")
			b.ReportMetric(float64(peak), "peak-heap-B")
		})
	}
}

// signAll signs n protocol 2 RSA-2048 packets on min(n, cores) goroutines
// at once, ceil(n / cores) on each, and returns the wall time: the crypto
// bound of a run to n sinks.
func signAll(b *testing.B, key *rsa.PrivateKey, n, cores int) time.Duration {
	var pub [packet.KeySize]byte
	var wg sync.WaitGroup
	errs := make(chan error, cores)
	perCore := (n + cores - 1) / cores
	start := time.Now()
	for g := range min(n, cores) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &packet.Packet{Timestamp: time.Now().Unix()}
			for i := range min(perCore, n-g*perCore) {
				p.Counter = int64(i + 1)
				if _, err := packet.Sign(rand.Reader, p, packet.Protocol2, key, &pub); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// writeTime measures one final rewrite of the targets file at path, as a
// run makes it (temp file, fsync, rename).
func writeTime(b *testing.B, path string) time.Duration {
	ts, err := LoadTargets(path)
	if err != nil {
		b.Fatal(err)
	}
	scratch := filepath.Join(b.TempDir(), "targets.json")
	const n = 20
	start := time.Now()
	for range n {
		if err := ts.save(scratch, atomicOnly); err != nil {
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
