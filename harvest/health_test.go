package harvest

import (
	"crypto/rand"
	"errors"
	"math"
	"testing"
)

// TestRCTCutoff checks C = 1 + ceil(-log2(alpha)/H). The H=1, alpha=2^-20
// value 21 is SP 800-90B's own example (section 4.4.1).
func TestRCTCutoff(t *testing.T) {
	for _, c := range []struct {
		h         float64
		alphaLog2 int
		want      int
	}{
		{1, 20, 21}, // SP 800-90B 4.4.1 example
		{8, 20, 4},
		{0.5, 20, 41},
		{2, 30, 16},
		{8, 30, 5},
		{3, 30, 11},
		{7.5, 40, 7},
	} {
		if got := RCTCutoff(c.h, c.alphaLog2); got != c.want {
			t.Errorf("RCTCutoff(H=%g, alpha=2^-%d) = %d, want %d", c.h, c.alphaLog2, got, c.want)
		}
		if want := 1 + int(math.Ceil(float64(c.alphaLog2)/c.h)); c.want != want {
			t.Errorf("table entry H=%g disagrees with the formula: %d", c.h, want)
		}
	}
}

// TestAPTCutoffNIST checks the W=512 cutoffs against SP 800-90B table 2
// (alpha = 2^-20): H=0.5 -> 410, 1 -> 311, 2 -> 177, 4 -> 62, 8 -> 13.
// (The brief listed 410, 311, 177, 62 against H = 1, 2, 4, 8: that is the
// table shifted by one row; the formula gives these, as the table does.)
func TestAPTCutoffNIST(t *testing.T) {
	for _, c := range []struct {
		h    float64
		want int
	}{{0.5, 410}, {1, 311}, {2, 177}, {4, 62}, {8, 13}} {
		if got := APTCutoff(APTWindow, c.h, 20); got != c.want {
			t.Errorf("APTCutoff(512, H=%g, 2^-20) = %d, want %d", c.h, got, c.want)
		}
	}
}

// TestAPTCutoffFormula checks the defining property directly: the cutoff
// c is the smallest with P[Binomial(W, 2^-H) >= c] <= alpha.
func TestAPTCutoffFormula(t *testing.T) {
	tail := func(w, c int, p float64) float64 { // P[X >= c], plain summation
		s := 0.0
		for k := c; k <= w; k++ {
			s += math.Exp(logBinomPMF(w, k, p))
		}
		return s
	}
	for _, w := range []int{APTWindow, APTWindowBinary} {
		for _, a := range []int{20, 30, 40} {
			for _, h := range []float64{0.5, 1, 2, 3, 4, 6, 8} {
				if w == APTWindowBinary && h > 1 {
					continue
				}
				c := APTCutoff(w, h, a)
				alpha := math.Exp2(-float64(a))
				p := math.Exp2(-h)
				if got := tail(w, c, p); got > alpha {
					t.Errorf("W=%d H=%g a=2^-%d: P[X>=%d] = %g > alpha", w, h, a, c, got)
				}
				if got := tail(w, c-1, p); got <= alpha {
					t.Errorf("W=%d H=%g a=2^-%d: cutoff %d is not the smallest (P[X>=%d] = %g)", w, h, a, c, c-1, got)
				}
			}
		}
	}
}

func TestHealthBadInputs(t *testing.T) {
	n := 4096
	constant := make([]byte, n)
	stuckBits := make([]byte, n) // 5 of 8 bits stuck high: 3 good bits, credited 8
	cycle := make([]byte, n)     // a period-4 cycle
	cycle2 := make([]byte, n)    // two values alternating
	rand.Read(stuckBits)
	for i := range n {
		stuckBits[i] |= 0xf8
		cycle[i] = byte(i % 4 * 61)
		cycle2[i] = byte(i % 2)
	}
	lowBits := make([]byte, n) // only two values: 1 bit claimed as 4
	rand.Read(lowBits)
	for i := range lowBits {
		lowBits[i] &= 1
	}
	for _, c := range []struct {
		name string
		data []byte
		h    float64
		want error
	}{
		{"constant", constant, 1, ErrRepetitionCount},
		{"constant, H=8", constant, 8, ErrRepetitionCount},
		{"stuck bits", stuckBits, 8, ErrAdaptiveProportion},
		{"4-cycle", cycle, 4, ErrAdaptiveProportion},
		{"2-cycle", cycle2, 2, ErrAdaptiveProportion},
		{"1 bit claimed as 4", lowBits, 4, nil}, // either test may see it first
	} {
		err := CheckHealth(c.data, c.h, DefaultAlphaLog2)
		if c.want == nil && (errors.Is(err, ErrRepetitionCount) || errors.Is(err, ErrAdaptiveProportion)) {
			continue
		}
		if !errors.Is(err, c.want) || c.want == nil {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		var he *HealthError
		if !errors.As(err, &he) || he.Count < he.Cutoff {
			t.Errorf("%s: error %v does not carry its counts", c.name, err)
		}
	}
}

func TestHealthGoodInput(t *testing.T) {
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	// crypto/rand output is full entropy: it passes at 8 bits per byte,
	// and a fortiori at lower claims.
	for _, h := range []float64{8, 4, 1} {
		if err := CheckHealth(buf, h, DefaultAlphaLog2); err != nil {
			t.Errorf("H=%g: %v", h, err)
		}
	}
}

// TestHealthStreaming: feeding in pieces finds the same failure as in
// one piece, and a failed test stays failed.
func TestHealthStreaming(t *testing.T) {
	data := make([]byte, 2048)
	rand.Read(data)
	for i := 1000; i < 1040; i++ {
		data[i] = 7
	}
	whole, _ := NewHealthTest(8, 30)
	_, errWhole := whole.Write(data)
	parts, _ := NewHealthTest(8, 30)
	var errParts error
	for i := 0; i < len(data) && errParts == nil; i += 3 {
		_, errParts = parts.Write(data[i:min(i+3, len(data))])
	}
	var a, b *HealthError
	if !errors.As(errWhole, &a) || !errors.As(errParts, &b) || *a != *b {
		t.Fatalf("whole %v, parts %v", errWhole, errParts)
	}
	if a.Offset != 1000+a.Cutoff-1 {
		t.Errorf("failed at sample %d, want %d", a.Offset, 1000+a.Cutoff-1)
	}
	if _, err := parts.Write([]byte{1, 2, 3}); err != errParts {
		t.Errorf("after failure: %v", err)
	}
	if _, err := NewHealthTest(0, 30); !errors.Is(err, ErrConfig) {
		t.Errorf("H=0: %v", err)
	}
}
