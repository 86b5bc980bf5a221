package harvest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"
	"strings"
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
		if got := rctCutoff(c.h, c.alphaLog2); got != c.want {
			t.Errorf("rctCutoff(H=%g, alpha=2^-%d) = %d, want %d", c.h, c.alphaLog2, got, c.want)
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
		if got := aptCutoff(aptWindow, c.h, 20); got != c.want {
			t.Errorf("aptCutoff(512, H=%g, 2^-20) = %d, want %d", c.h, got, c.want)
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
	for _, w := range []int{aptWindow, aptWindowBinary} {
		for _, a := range []int{20, 30, 40} {
			for _, h := range []float64{0.5, 1, 2, 3, 4, 6, 8} {
				if w == aptWindowBinary && h > 1 {
					continue
				}
				c := aptCutoff(w, h, a)
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
		{"constant", constant, 1, errRepetitionCount},
		{"constant, H=8", constant, 8, errRepetitionCount},
		{"stuck bits", stuckBits, 8, errAdaptiveProportion},
		{"4-cycle", cycle, 4, errAdaptiveProportion},
		{"2-cycle", cycle2, 2, errAdaptiveProportion},
		{"1 bit claimed as 4", lowBits, 4, nil}, // either test may see it first
	} {
		err := checkHealth(c.data, c.h, defaultAlphaLog2)
		if c.want == nil && (errors.Is(err, errRepetitionCount) || errors.Is(err, errAdaptiveProportion)) {
			continue
		}
		if !errors.Is(err, c.want) || c.want == nil {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		var he *healthError
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
		if err := checkHealth(buf, h, defaultAlphaLog2); err != nil {
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
	whole, _ := newHealthTest(8, 30)
	_, errWhole := whole.Write(data)
	parts, _ := newHealthTest(8, 30)
	var errParts error
	for i := 0; i < len(data) && errParts == nil; i += 3 {
		_, errParts = parts.Write(data[i:min(i+3, len(data))])
	}
	var a, b *healthError
	if !errors.As(errWhole, &a) || !errors.As(errParts, &b) || *a != *b {
		t.Fatalf("whole %v, parts %v", errWhole, errParts)
	}
	if a.Offset != 1000+a.Cutoff-1 {
		t.Errorf("failed at sample %d, want %d", a.Offset, 1000+a.Cutoff-1)
	}
	if _, err := parts.Write([]byte{1, 2, 3}); err != errParts {
		t.Errorf("after failure: %v", err)
	}
	if _, err := newHealthTest(0, 30); !errors.Is(err, ErrConfig) {
		t.Errorf("H=0: %v", err)
	}
}

// gatherOnly runs one gather with sources and returns the report and the
// records that would be mixed, by name.
func gatherOnly(t *testing.T, sources ...entropySource) (*Report, map[string][]byte) {
	t.Helper()
	h := harvester{cfg: Config{MinBits: 1}, sources: sources}
	rep, recs, err := h.gather(context.Background())
	if rep == nil {
		t.Fatalf("gather: %v", err)
	}
	mixed := map[string][]byte{}
	for _, r := range recs {
		mixed[r.name] = r.data
	}
	return rep, mixed
}

func findSource(t *testing.T, rep *Report, name string) sourceReport {
	t.Helper()
	for _, s := range rep.sources {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s not reported", name)
	return sourceReport{}
}

// TestStartupExcludesEarlyFailure: a source whose readings are 64
// samples, each fine on its own, but which repeats one value at samples
// 300 to 339, is excluded by the start-up test (SP 800-90B 4.3) and
// reported as such. Without it only the first 64 samples were tested and
// the source was used.
func TestStartupExcludesEarlyFailure(t *testing.T) {
	stream := randBytes(4096)
	for i := 300; i < 340; i++ {
		stream[i] = 0x42
	}
	if err := checkHealth(stream[:64], 8, defaultAlphaLog2); err != nil {
		t.Fatalf("the first reading alone should pass: %v", err)
	}
	src := &streamSource{name: "early", stream: stream, per: 64, bits: 8}
	rep, mixed := gatherOnly(t, src, fakeSource{name: "kernel", data: randBytes(32), bits: 8})

	s := findSource(t, rep, "early")
	var se *startupError
	var he *healthError
	if s.Health != healthFail || !s.Startup || s.HealthTest != "RCT" || s.CreditedBits != 0 ||
		!errors.Is(s.Err, errStartup) || !errors.Is(s.Err, errRepetitionCount) ||
		!errors.As(s.Err, &se) || !errors.As(s.Err, &he) {
		t.Fatalf("early: %+v", s)
	}
	if cut := rctCutoff(8, defaultAlphaLog2); he.Offset != 300+cut-1 || se.Tested != he.Offset {
		t.Errorf("failed at sample %d (tested %d), want %d", he.Offset, se.Tested, 300+cut-1)
	}
	if !strings.Contains(s.Err.Error(), "harvest: early: start-up test failed after") {
		t.Errorf("error %q", s.Err)
	}
	if _, ok := mixed["early"]; ok {
		t.Error("a source that failed its start-up test was mixed")
	}
	for i, r := range src.reads {
		if !bytes.Equal(r, make([]byte, len(r))) {
			t.Errorf("reading %d was not wiped", i)
		}
	}
	if k := findSource(t, rep, "kernel"); k.Health != healthPass || k.TestedSamples < startupSamples || k.Bytes != 32 {
		t.Errorf("a healthy source beside it: %+v", k)
	}
	var tbl bytes.Buffer
	rep.WriteTable(&tbl)
	if !strings.Contains(tbl.String(), "fail (start-up RCT)") {
		t.Errorf("table:\n%s", tbl.String())
	}
}

// TestStartupPasses: a healthy source with small readings is tested over
// 1024 samples and used; its first reading is what is credited and
// mixed, and the samples read only for the test are wiped.
func TestStartupPasses(t *testing.T) {
	stream := randBytes(4096)
	src := &streamSource{name: "good", stream: stream, per: 64, bits: 8}
	rep, mixed := gatherOnly(t, src)
	s := findSource(t, rep, "good")
	if s.Health != healthPass || s.Err != nil || s.Startup || s.Bytes != 64 || s.CreditedBits != 512 || s.TestedSamples != startupSamples {
		t.Fatalf("good: %+v", s)
	}
	if len(src.reads) != startupSamples/64 {
		t.Errorf("%d reads, want %d", len(src.reads), startupSamples/64)
	}
	if !bytes.Equal(mixed["good"], stream[:64]) {
		t.Error("the first reading is not what was mixed")
	}
	for i, r := range src.reads[1:] {
		if !bytes.Equal(r, make([]byte, len(r))) {
			t.Errorf("start-up reading %d was not wiped", i+1)
		}
	}
	// A reading of 1024 samples or more is its own start-up test: one read.
	big := &streamSource{name: "big", stream: randBytes(4096), per: 2048, bits: 8}
	rep, _ = gatherOnly(t, big)
	if s := findSource(t, rep, "big"); s.Health != healthPass || len(big.reads) != 1 || s.TestedSamples != 2048 {
		t.Fatalf("big: %d reads, %+v", len(big.reads), s)
	}
}

// TestStartupResizable: a source that can be asked for more samples at
// once gives the start-up test the rest in a single read, and a failure
// in those samples excludes it.
func TestStartupResizable(t *testing.T) {
	rep, _ := gatherOnly(t, fakeSource{name: "fresh", data: randBytes(64), bits: 8})
	if s := findSource(t, rep, "fresh"); s.Health != healthPass || s.TestedSamples != startupSamples || s.CreditedBits != 512 {
		t.Fatalf("fresh: %+v", s)
	}
	stuck := randBytes(startupSamples - 64)
	for i := 500; i < 560; i++ {
		stuck[i] = 7
	}
	rep, _ = gatherOnly(t, fakeSource{name: "stuck later", data: randBytes(64), bits: 8, startup: stuck})
	if s := findSource(t, rep, "stuck later"); s.Health != healthFail || !s.Startup || !errors.Is(s.Err, errRepetitionCount) {
		t.Fatalf("stuck later: %+v", s)
	}
	// The real kernel source: 32 bytes used, 1024 tested.
	rep, _ = gatherOnly(t, kernelSource{n: 32})
	if s := findSource(t, rep, "kernel"); s.Available && (s.Health != healthPass || s.Bytes != 32 || s.TestedSamples != startupSamples) {
		t.Fatalf("kernel: %+v", s)
	}
}

// TestStartupShort: a source that cannot give 1024 samples, or fails to
// read before it has, does not pass its start-up test. A failure after
// the start-up samples is a continuous test failure, not a start-up one.
func TestStartupShort(t *testing.T) {
	trickle := &streamSource{name: "trickle", stream: randBytes(4096), per: 1, bits: 8}
	broken := &streamSource{name: "broken", stream: randBytes(4096), per: 64, bits: 8, failAt: 3}
	dry := &streamSource{name: "dry", stream: randBytes(100), per: 64, bits: 8}
	late := &streamSource{name: "late", stream: randBytes(2048), per: 2048, bits: 8}
	for i := 1500; i < 1540; i++ {
		late.stream[i] = 9
	}
	rep, _ := gatherOnly(t, trickle, broken, dry, late, fakeSource{name: "kernel", data: randBytes(32), bits: 8})
	for _, c := range []struct {
		name, text string
		tested     int
	}{
		{"trickle", "64 more reads gave only 65 samples", 1 + maxStartupReads},
		{"broken", "harvest: broken: start-up test failed after 128 of 1024 samples: read 2: i/o error", 128},
		{"dry", "read 2 gave no samples", 100},
	} {
		s := findSource(t, rep, c.name)
		var se *startupError
		if s.Health != healthFail || !s.Startup || s.HealthTest != "" || !errors.As(s.Err, &se) ||
			se.Tested != c.tested || !strings.Contains(s.Err.Error(), c.text) || s.CreditedBits != 0 {
			t.Errorf("%s: %+v", c.name, s)
		}
	}
	s := findSource(t, rep, "late")
	if s.Health != healthFail || s.Startup || s.HealthTest != "RCT" || errors.Is(s.Err, errStartup) || s.CreditedBits != 0 {
		t.Errorf("late: %+v", s)
	}
	var tbl bytes.Buffer
	rep.WriteTable(&tbl)
	if !strings.Contains(tbl.String(), "fail (start-up)") || !strings.Contains(tbl.String(), "fail (RCT)") {
		t.Errorf("table:\n%s", tbl.String())
	}
}
