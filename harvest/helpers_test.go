package harvest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// buildDir holds the plugins the tests build, once per test binary.
var buildDir string

// raceEnabled is set by race_test.go in builds with -race.
var raceEnabled bool

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "harvest-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var builds sync.Map // source path -> *buildResult

type buildResult struct {
	once sync.Once
	out  string
	err  error
}

// buildPlugin builds a .wat file with wat2wasm or a Go package with
// GOOS=wasip1 GOARCH=wasm, once per test binary, and returns the .wasm.
func buildPlugin(tb testing.TB, src string) string {
	tb.Helper()
	isWAT := filepath.Ext(src) == ".wat"
	if isWAT {
		testtool.Require(tb, "wat2wasm")
	}
	v, _ := builds.LoadOrStore(src, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		abs, err := filepath.Abs(src)
		if err != nil {
			b.err = err
			return
		}
		name := filepath.Base(abs)
		if isWAT {
			name = name[:len(name)-len(".wat")]
		}
		b.out = filepath.Join(buildDir, fmt.Sprintf("%s-%x.wasm", name, len(abs)))
		var cmd *exec.Cmd
		if isWAT {
			cmd = exec.Command("wat2wasm", abs, "-o", b.out)
		} else {
			cmd = exec.Command("go", "build", "-o", b.out, ".")
			cmd.Dir = abs
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", src, err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// fakeSource returns fixed data at a fixed assessment. Asked for more
// samples for the start-up test, it gives startup, or as many fresh
// random bytes as asked (a healthy source's next samples) when that is nil.
type fakeSource struct {
	name    string
	data    []byte
	bits    float64
	err     error
	startup []byte
}

func (f fakeSource) Name() string { return f.name }

func (f fakeSource) withSamples(n int) entropySource {
	data := f.startup
	if data == nil {
		data = randBytes(n)
	}
	return fakeSource{name: f.name, data: data, bits: f.bits, err: f.err, startup: data}
}

func (f fakeSource) Read(context.Context) (reading, error) {
	if f.err != nil {
		return reading{}, f.err
	}
	return reading{Data: append([]byte(nil), f.data...), BitsPerSample: f.bits}, nil
}

// streamSource hands out one stream of samples, per at a time, as a
// device would. It cannot be asked for more at once (it is not
// resizable), and it keeps every reading it gave so a test can see
// which were wiped.
type streamSource struct {
	name   string
	stream []byte
	per    int
	bits   float64
	failAt int // the read (counting from 1) that fails; 0 for none

	mu    sync.Mutex
	reads [][]byte
}

func (s *streamSource) Name() string { return s.name }

func (s *streamSource) Read(context.Context) (reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reads)+1 == s.failAt {
		return reading{}, errors.New("i/o error")
	}
	n := min(s.per, len(s.stream))
	r := append([]byte(nil), s.stream[:n]...)
	s.stream = s.stream[n:]
	s.reads = append(s.reads, r)
	return reading{Data: r, BitsPerSample: s.bits}, nil
}
