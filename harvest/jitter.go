package harvest

import (
	"context"
	"fmt"
	"math"
	"time"
)

// jitterSource measures CPU timing jitter: the time a short, fixed walk
// through a buffer takes varies with cache, TLB, pipeline and interrupt
// state. Each sample is the low 8 bits of one duration in nanoseconds
// (Go's monotonic clock).
//
// Its work is bounded: a fixed number of samples (at most
// maxJitterSamples), each a fixed number of steps, and ctx is checked as
// it goes. It never loops "until enough entropy".
//
// Assessed entropy: the most-common-value estimate of SP 800-90B 6.3.1 on
// the samples (upper 99% bound on the most common value's probability),
// halved because successive timings are not independent, and capped at
// jitterMaxBitsPerSample. The estimate is computed per run, so a slow or
// quiet machine credits less rather than more.
type jitterSource struct {
	samples int
	now     func() time.Time
}

func (jitterSource) Name() string { return "jitter" }

func (s jitterSource) withSamples(n int) entropySource { s.samples = n; return s }

func (s jitterSource) Read(ctx context.Context) (reading, error) {
	n := min(max(s.samples, 64), maxJitterSamples)
	now := s.now
	if now == nil {
		now = time.Now
	}
	var mem [4096]uint64
	idx := uint64(0x9e3779b97f4a7c15)
	out := make([]byte, n)
	deltas := make([]int64, n)
	for i := range n {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return reading{}, fmt.Errorf("stopped after %d of %d samples: %w", i, n, err)
			}
		}
		t0 := now()
		for range jitterRounds {
			// A data-dependent walk: each step's address depends on the last.
			j := idx % uint64(len(mem))
			mem[j] += idx
			idx = idx*6364136223846793005 + mem[(j*7+1)%uint64(len(mem))] + 1442695040888963407
		}
		d := now().Sub(t0).Nanoseconds()
		deltas[i] = d
		out[i] = byte(d)
	}
	if err := timerFineEnough(deltas); err != nil {
		return reading{}, err
	}
	h := mcvEntropy(out) / 2
	h = min(h, jitterMaxBitsPerSample)
	if h < 0.05 {
		return reading{}, fmt.Errorf("%w: the low bits of the timings hardly vary (%.3f bits per sample); disable the jitter source with --no-jitter", errCoarseTimer, h)
	}
	h = math.Floor(h*100) / 100
	return reading{Data: out, BitsPerSample: h, Note: fmt.Sprintf("%d samples, %.2f bits each", n, h)}, nil
}

// timerFineEnough rejects a clock that cannot resolve the timed walk: most
// durations zero, or almost all the same.
func timerFineEnough(deltas []int64) error {
	zero := 0
	distinct := make(map[int64]struct{})
	var g int64
	for _, d := range deltas {
		if d <= 0 {
			zero++
			continue
		}
		if len(distinct) < 64 {
			distinct[d] = struct{}{}
		}
		g = gcd(g, d)
	}
	if zero*2 > len(deltas) {
		return fmt.Errorf("%w: %d of %d timings measured 0 ns; this machine's clock cannot measure CPU jitter, disable the jitter source with --no-jitter", errCoarseTimer, zero, len(deltas))
	}
	if len(distinct) < 4 {
		return fmt.Errorf("%w: only %d distinct timings in %d (resolution about %d ns); disable the jitter source with --no-jitter", errCoarseTimer, len(distinct), len(deltas), g)
	}
	if g >= 256 {
		return fmt.Errorf("%w: every timing is a multiple of %d ns, so their low bits carry nothing; disable the jitter source with --no-jitter", errCoarseTimer, g)
	}
	return nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// mcvEntropy is the most common value estimate (SP 800-90B 6.3.1) of the
// min-entropy per byte sample: -log2 of the upper 99% confidence bound on
// the most common value's probability.
func mcvEntropy(samples []byte) float64 {
	if len(samples) < 2 {
		return 0
	}
	var counts [256]int
	top := 0
	for _, b := range samples {
		counts[b]++
		top = max(top, counts[b])
	}
	n := float64(len(samples))
	p := float64(top) / n
	pu := math.Min(1, p+2.576*math.Sqrt(p*(1-p)/(n-1)))
	return -math.Log2(pu)
}
