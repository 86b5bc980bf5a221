package harvest

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// The continuous health tests of NIST SP 800-90B section 4.4, run on the
// raw samples of every source before anything is mixed. Each byte a source
// returns is one sample; H is the source's assessed min-entropy per sample
// in bits and alpha = 2^-alphaLog2 the accepted false-positive rate.
//
// Repetition Count Test (4.4.1): the source fails when one value repeats
// C or more times in a row, where
//
//	C = 1 + ceil(-log2(alpha) / H).
//
// Adaptive Proportion Test (4.4.2): in each window of W samples (W = 512
// for non-binary samples, 1024 for binary ones), the source fails when the
// window's first value occurs C or more times in the window, where
//
//	C = 1 + CRITBINOM(W, 2^-H, 1 - alpha)
//
// which is the smallest c with P[Binomial(W, 2^-H) >= c] <= alpha. The
// binomial tail is summed exactly in log space (lgamma), not approximated.
// A final window shorter than W is still counted against the full-window
// cutoff: it can only fail on a count that would fail a full window.

// rctCutoff returns the Repetition Count Test cutoff C for h bits of
// min-entropy per sample and alpha = 2^-alphaLog2.
func rctCutoff(h float64, alphaLog2 int) int {
	return 1 + int(math.Ceil(float64(alphaLog2)/h))
}

// aptCutoff returns the Adaptive Proportion Test cutoff C for window w, h
// bits of min-entropy per sample and alpha = 2^-alphaLog2: the smallest c
// with P[Binomial(w, 2^-h) >= c] <= alpha. It is at most w.
func aptCutoff(w int, h float64, alphaLog2 int) int {
	p := math.Exp2(-h)
	logAlpha := -float64(alphaLog2) * math.Ln2
	// Walk c down from w while the tail P[X >= c-1] still stays <= alpha;
	// the tail grows as c falls, so the first c whose tail exceeds alpha
	// ends the walk.
	c := w
	tail := math.Inf(-1) // log P[X >= w+1] = log 0
	for k := w; k >= 0; k-- {
		tail = logAddExp(tail, logBinomPMF(w, k, p))
		if tail > logAlpha {
			// P[X >= k] > alpha, so the cutoff is k+1.
			c = k + 1
			break
		}
		c = k
	}
	if c > w {
		c = w // a window of w equal values always fails
	}
	return c
}

// logBinomPMF is log P[Binomial(n, p) = k].
func logBinomPMF(n, k int, p float64) float64 {
	ln, _ := math.Lgamma(float64(n + 1))
	lk, _ := math.Lgamma(float64(k + 1))
	lnk, _ := math.Lgamma(float64(n - k + 1))
	return ln - lk - lnk + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
}

// logAddExp is log(e^a + e^b) without overflow.
func logAddExp(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	if a < b {
		a, b = b, a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// healthTest runs both continuous tests over a stream of byte samples. The
// zero value is not usable; make one with newHealthTest.
type healthTest struct {
	rctLimit, aptLimit, window int

	n int // samples seen

	rctValue byte
	rctCount int

	aptValue byte
	aptCount int
	aptSeen  int // samples in the current window

	failed *healthError
}

// newHealthTest returns the tests for h bits of assessed min-entropy per
// byte sample (0 < h <= 8) at alpha = 2^-alphaLog2.
func newHealthTest(h float64, alphaLog2 int) (*healthTest, error) {
	if !(h > 0 && h <= 8) {
		return nil, fmt.Errorf("%w: entropy per sample %g out of (0, 8]", ErrConfig, h)
	}
	if alphaLog2 < 1 || alphaLog2 > 64 {
		return nil, fmt.Errorf("%w: alpha 2^-%d out of range", ErrConfig, alphaLog2)
	}
	return &healthTest{
		rctLimit: rctCutoff(h, alphaLog2),
		aptLimit: aptCutoff(aptWindow, h, alphaLog2),
		window:   aptWindow,
	}, nil
}

// Write feeds samples to the tests. It returns a *healthError at the first
// failure, and the same error on every later call.
func (t *healthTest) Write(samples []byte) (int, error) {
	if t.failed != nil {
		return 0, t.failed
	}
	for i, s := range samples {
		// RCT
		if t.n > 0 && s == t.rctValue {
			t.rctCount++
			if t.rctCount >= t.rctLimit {
				t.failed = &healthError{Test: "RCT", Count: t.rctCount, Cutoff: t.rctLimit, Offset: t.n, err: errRepetitionCount}
				return i, t.failed
			}
		} else {
			t.rctValue, t.rctCount = s, 1
		}
		// APT: the first sample of a window is the reference value.
		if t.aptSeen == 0 {
			t.aptValue, t.aptCount = s, 1
		} else if s == t.aptValue {
			t.aptCount++
			if t.aptCount >= t.aptLimit {
				t.failed = &healthError{Test: "APT", Count: t.aptCount, Cutoff: t.aptLimit, Offset: t.n, err: errAdaptiveProportion}
				return i, t.failed
			}
		}
		t.aptSeen++
		if t.aptSeen == t.window {
			t.aptSeen = 0
		}
		t.n++
	}
	return len(samples), nil
}

// checkHealth runs fresh tests over samples at h bits per sample.
func checkHealth(samples []byte, h float64, alphaLog2 int) error {
	t, err := newHealthTest(h, alphaLog2)
	if err != nil {
		return err
	}
	_, err = t.Write(samples)
	return err
}

// startupTest is the start-up test of SP 800-90B section 4.3: the
// continuous tests run over at least the first startupSamples
// consecutive samples of a source before any of its output is used. t is
// a fresh test and first the reading the run will use. When first holds
// fewer samples, src is read again (asked for the shortfall in one Read
// where it can be, see resizable) and those samples are tested after
// first's, then wiped: only first is ever used. The extra reads share
// ctx's deadline and are at most maxStartupReads.
//
// A health test failure at a sample past the start-up ones is returned as
// it is (a continuous failure); anything else that stops the test is a
// *startupError.
func startupTest(ctx context.Context, src entropySource, t *healthTest, first []byte) error {
	_, err := t.Write(first)
	more := src
	if r, ok := src.(resizable); ok && t.n < startupSamples {
		more = r.withSamples(startupSamples - t.n)
	}
	for reads := 1; err == nil && t.n < startupSamples; reads++ {
		if reads > maxStartupReads {
			err = fmt.Errorf("%d more reads gave only %d samples", maxStartupReads, t.n)
			break
		}
		var r reading
		r, err = more.Read(ctx)
		switch {
		case err != nil:
			err = fmt.Errorf("read %d: %w", reads, err)
		case len(r.Data) == 0:
			err = fmt.Errorf("read %d gave no samples", reads)
		default:
			_, err = t.Write(r.Data)
		}
		clear(r.Data)
	}
	var he *healthError
	if err == nil || (errors.As(err, &he) && he.Offset >= startupSamples) {
		return err
	}
	return &startupError{Tested: t.n, Err: err}
}
