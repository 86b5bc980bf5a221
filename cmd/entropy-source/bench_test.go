package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// BenchmarkProcess runs the real entropy-source binary, as cron does, to
// 1 and 100 sinks on loopback that answer 0x00 without opening anything,
// and reports the peak resident set of the process (getrusage's maxrss).
// ns/op is the wall time of a whole process: start, harvest of the
// default local sources, lock, write-ahead, packets, final write.
func BenchmarkProcess(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "entropy-source")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	pub := signerPublic(b, dir)
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("sinks=%d", n), func(b *testing.B) {
			var entries []map[string]any
			for range n {
				entries = append(entries, sourcetest.Entry(sourcetest.Start(b, sourcetest.Blind, pub), nil))
			}
			targets := filepath.Join(b.TempDir(), "targets.json")
			fresh := sourcetest.WriteTargets(b, targets, entries)
			var peak int64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := os.WriteFile(targets, fresh, 0o644); err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(bin, "-k", filepath.Join(dir, "signer.key"), "-t", targets, "-s", filepath.Join(dir, "seed"))
				b.StartTimer()
				out, err := cmd.CombinedOutput()
				b.StopTimer()
				if err != nil {
					b.Fatalf("run: %v\n%s", err, out)
				}
				peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss<<10)
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
		})
	}
}
