package harvest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestHarvestZeroConfig(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed")
	g, rep, err := Harvest(context.Background(), Config{}, seed)
	if err != nil {
		t.Fatal(err)
	}
	if rep.creditedBits < DefaultMinBits || rep.seed != "rewritten" || rep.minBits != DefaultMinBits {
		t.Fatalf("report: %+v", rep)
	}
	var names []string
	for _, s := range rep.sources {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "kernel,jitter,hwrng,adc,thermal,tpm" {
		t.Fatalf("sources %s", got)
	}
	st, err := os.Stat(seed)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != seedSize {
		t.Fatalf("seed file: %v %v", st, err)
	}
	first, _ := os.ReadFile(seed)
	out := read(t, g, 64)
	if bytes.Contains(out, first) {
		t.Fatal("the seed file holds generator output the caller got")
	}
	// A second run reads, mixes and replaces it.
	_, rep, err = Harvest(context.Background(), Config{}, seed)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(seed)
	if bytes.Equal(first, second) || rep.seed != "rewritten" {
		t.Fatal("the seed file was not rewritten")
	}
	var tbl bytes.Buffer
	if err := rep.WriteTable(&tbl); err != nil || !strings.Contains(tbl.String(), "SOURCE") || !strings.Contains(tbl.String(), "enough") {
		t.Fatalf("table: %v\n%s", err, tbl.String())
	}
}

func TestHarvestInsufficient(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed")
	prev := randBytes(seedSize)
	os.WriteFile(seed, prev, 0o600)
	h := harvester{sources: []entropySource{fakeSource{name: "weak", data: randBytes(16), bits: 8}}}
	g, rep, err := h.harvest(context.Background(), seed)
	if !errors.Is(err, ErrInsufficient) || g != nil || rep == nil {
		t.Fatalf("got %v, %v, %v", g, rep, err)
	}
	if rep.creditedBits != 128 || rep.sufficient() {
		t.Fatalf("credited %g", rep.creditedBits)
	}
	if now, _ := os.ReadFile(seed); !bytes.Equal(now, prev) {
		t.Fatal("an insufficient run changed the seed file")
	}
	var tbl bytes.Buffer
	rep.WriteTable(&tbl)
	if !strings.Contains(tbl.String(), "NOT ENOUGH") {
		t.Fatal(tbl.String())
	}
}

// TestHarvestExcludes: a source failing its health tests, one failing to
// read and one unavailable are reported and left out; the run goes on.
func TestHarvestExcludes(t *testing.T) {
	h := harvester{sources: []entropySource{
		fakeSource{name: "good", data: randBytes(64), bits: 8},
		fakeSource{name: "stuck", data: make([]byte, 1000), bits: 8},
		fakeSource{name: "broken", err: errors.New("i/o error")},
		fakeSource{name: "absent", err: unavailable("no device")},
		fakeSource{name: "uncredited", data: make([]byte, 100)},
	}}
	g, rep, err := h.harvest(context.Background(), "")
	if err != nil || g == nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		avail  bool
		health string
		bits   float64
	}{
		"good":       {true, healthPass, 512},
		"stuck":      {true, healthFail, 0},
		"broken":     {true, healthNone, 0},
		"absent":     {false, healthNone, 0},
		"uncredited": {true, healthUntested, 0},
	}
	for _, s := range rep.sources {
		w := want[s.Name]
		if s.Available != w.avail || s.Health != w.health || s.CreditedBits != w.bits {
			t.Errorf("%s: %+v", s.Name, s)
		}
	}
	if s := rep.sources[1]; s.HealthTest != "RCT" || !errors.Is(s.Err, errRepetitionCount) {
		t.Errorf("stuck: %+v", s)
	}
	if s := rep.sources[3]; s.Reason != "no device" {
		t.Errorf("absent: %q", s.Reason)
	}
	if rep.creditedBits != 512 {
		t.Errorf("credited %g", rep.creditedBits)
	}
}

// TestCredit: Credit lowers a self-assessed source and cannot raise it;
// it sets an operator-assessed one.
func TestCredit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "noise")
	os.WriteFile(file, randBytes(100), 0o600)
	h := harvester{
		cfg: Config{
			MinBits: 1,
			Credit:  map[string]float64{"lowered": 2, "raised": 8, "file:noise": 3},
			Files:   []string{file},
		},
		sources: []entropySource{
			fakeSource{name: "lowered", data: randBytes(100), bits: 6},
			fakeSource{name: "raised", data: randBytes(100), bits: 4},
		},
	}
	_, rep, err := h.harvest(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range rep.sources {
		got[s.Name] = s.CreditedBits
	}
	if got["lowered"] != 200 || got["raised"] != 400 || got["file:noise"] != 300 {
		t.Fatalf("credited %v", got)
	}
}

func TestSeedFileErrors(t *testing.T) {
	dir := t.TempDir()
	if b, err := readSeedFile(filepath.Join(dir, "none")); b != nil || err != nil {
		t.Fatalf("missing: %v %v", b, err)
	}
	open := filepath.Join(dir, "open")
	os.WriteFile(open, randBytes(seedSize), 0o644)
	os.Chmod(open, 0o644)
	_, err := readSeedFile(open)
	if !errors.Is(err, privfile.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+open) {
		t.Fatalf("0644: %v", err)
	}
	for _, n := range []int{0, seedSize - 1, seedSize + 1} {
		p := filepath.Join(dir, "size")
		os.Remove(p)
		os.WriteFile(p, randBytes(n), 0o600)
		if _, err := readSeedFile(p); !errors.Is(err, errSeedSize) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	if err := CheckSeedFile(open); !errors.Is(err, privfile.ErrPermissions) ||
		err.Error() != "harvest: reading seed file: "+open+": mode 0644 lets group or others read it (fix: chmod 600 "+open+")" {
		t.Fatalf("CheckSeedFile: %v", err)
	}
	if err := CheckSeedFile(filepath.Join(dir, "none")); err != nil {
		t.Fatalf("CheckSeedFile, no file: %v", err)
	}
	// Harvest refuses before gathering, and leaves the file alone.
	if _, _, err := Harvest(context.Background(), Config{}, open); !errors.Is(err, privfile.ErrPermissions) {
		t.Fatalf("harvest with an open seed file: %v", err)
	}
	// Rewriting fixes a stale mode.
	good := filepath.Join(dir, "good")
	var k [seedSize]byte
	if err := writeSeedFile(good, newGenerator(k)); err != nil {
		t.Fatal(err)
	}
	if b, err := readSeedFile(good); err != nil || len(b) != seedSize {
		t.Fatalf("reread: %v", err)
	}
}

// TestBuildSources: the sources a Config names, in order, with the names
// files, commands and plugins are given; and an unknown source refused.
func TestBuildSources(t *testing.T) {
	c := Config{
		Plugins:  []string{"a.wasm", "b.wasm"},
		Files:    []string{"/dev/video0"},
		Commands: []string{"arecord -f S16_LE -d 1 -t raw"},
		NoJitter: true,
		Sources:  []string{"kernel", "hwrng"},
	}
	specs := c.buildSources(nil)
	var names []string
	for _, s := range specs {
		names = append(names, s.src.Name())
	}
	if got := strings.Join(names, ","); got != "kernel,hwrng,file:video0,command:arecord,plugin:a,plugin:b" {
		t.Fatalf("sources %s", got)
	}
	if _, err := (Config{Sources: []string{"nope"}}).resolved(); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown source: %v", err)
	}
}

func TestCommandSource(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	ctx := context.Background()
	// Byte limit: an endless producer is stopped once it has given enough.
	start := time.Now()
	r, err := commandSource{name: "c", line: "cat /dev/zero", n: 5000, bits: 1}.Read(ctx)
	if err != nil || len(r.Data) != 5000 {
		t.Fatalf("byte limit: %d bytes, %v", len(r.Data), err)
	}
	// Time limit: a silent command is killed, with its children.
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = commandSource{name: "c", line: "sleep 30 | cat", n: 10}.Read(tctx)
	if err == nil || !strings.Contains(err.Error(), "time limit") {
		t.Fatalf("time limit: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
	// Partial output at the deadline counts.
	tctx2, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	r, err = commandSource{name: "c", line: "printf abc; sleep 30", n: 10}.Read(tctx2)
	if err != nil || string(r.Data) != "abc" {
		t.Fatalf("partial: %q %v", r.Data, err)
	}
	// Failure, with its stderr quoted.
	_, err = commandSource{name: "c", line: "echo no microphone >&2; exit 1", n: 10}.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "no microphone") {
		t.Fatalf("failure: %v", err)
	}
}

func TestFileSource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("0123456789"), 0o600)
	r, err := fileSource{name: "f", path: p, n: 4}.Read(context.Background())
	if err != nil || string(r.Data) != "0123" || r.BitsPerSample != 0 {
		t.Fatalf("%q %v", r.Data, err)
	}
	r, err = fileSource{name: "f", path: p, n: 100}.Read(context.Background())
	if err != nil || len(r.Data) != 10 {
		t.Fatalf("short file: %q %v", r.Data, err)
	}
	if _, err := (fileSource{name: "f", path: p + "x", n: 4}).Read(context.Background()); !errors.Is(err, errUnavailable) {
		t.Fatalf("missing: %v", err)
	}
}

func TestJitter(t *testing.T) {
	r, err := jitterSource{samples: 1024}.Read(context.Background())
	if errors.Is(err, errCoarseTimer) {
		t.Skipf("this machine's clock: %v", err)
	}
	if err != nil || len(r.Data) != 1024 || r.BitsPerSample <= 0 || r.BitsPerSample > jitterMaxBitsPerSample {
		t.Fatalf("%d samples at %g: %v", len(r.Data), r.BitsPerSample, err)
	}
	// A clock that only ticks every millisecond is refused with a clear message.
	var n int64
	coarse := func() time.Time { n++; return time.Unix(0, (n/64)*int64(time.Millisecond)) }
	_, err = jitterSource{samples: 1024, now: coarse}.Read(context.Background())
	if !errors.Is(err, errCoarseTimer) || !strings.Contains(err.Error(), "--no-jitter") {
		t.Fatalf("coarse clock: %v", err)
	}
	// Bounded: a canceled context stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (jitterSource{samples: 1 << 30}).Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}
