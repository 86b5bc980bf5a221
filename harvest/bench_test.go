package harvest

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20"
)

const benchRead = 1 << 20

// BenchmarkGenerator, BenchmarkCryptoRand and BenchmarkChaCha20 compare
// the generator with the OS generator and with the raw cipher it wraps,
// 1 MiB at a time.
func BenchmarkGenerator(b *testing.B) {
	var k [seedSize]byte
	g := newGenerator(k)
	buf := make([]byte, benchRead)
	b.SetBytes(benchRead)
	for b.Loop() {
		g.Read(buf)
	}
}

func BenchmarkCryptoRand(b *testing.B) {
	buf := make([]byte, benchRead)
	b.SetBytes(benchRead)
	for b.Loop() {
		rand.Read(buf)
	}
}

// BenchmarkGeneratorSmall and BenchmarkCryptoRandSmall compare them on
// the reads most callers make: a 32-byte key and a 4 KiB buffer.
func BenchmarkGeneratorSmall(b *testing.B) {
	var k [seedSize]byte
	benchmarkSmallReads(b, newGenerator(k).Read)
}

func BenchmarkCryptoRandSmall(b *testing.B) { benchmarkSmallReads(b, rand.Read) }

func benchmarkSmallReads(b *testing.B, read func([]byte) (int, error)) {
	for _, n := range smallReads {
		b.Run(n.name, func(b *testing.B) {
			buf := make([]byte, n.size)
			b.SetBytes(int64(n.size))
			for b.Loop() {
				read(buf)
			}
		})
	}
}

var smallReads = []struct {
	name string
	size int
}{{"32B", 32}, {"4KiB", 4 << 10}}

func BenchmarkChaCha20(b *testing.B) {
	c, _ := chacha20.NewUnauthenticatedCipher(make([]byte, 32), make([]byte, 12))
	buf := make([]byte, benchRead)
	b.SetBytes(benchRead)
	for b.Loop() {
		c.XORKeyStream(buf, buf)
	}
}

// BenchmarkGather256 is the time to gather, test and credit at least 256
// bits from the local sources that need no hardware (kernel and jitter).
func BenchmarkGather256(b *testing.B) { benchGather(b, "kernel", "jitter") }

// BenchmarkJitterOnly256 is the same with the jitter source alone.
func BenchmarkJitterOnly256(b *testing.B) { benchGather(b, "jitter") }

// A gather that credits too little still took its time (the jitter
// source on a loaded machine sometimes fails its health tests): it is
// counted in the short/op metric rather than failing the benchmark.
func benchGather(b *testing.B, sources ...string) {
	h := harvester{cfg: Config{Sources: sources}}
	short := 0
	for b.Loop() {
		_, recs, err := h.gather(context.Background())
		if errors.Is(err, ErrInsufficient) {
			short++
		} else if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			clear(r.data)
		}
	}
	b.ReportMetric(float64(short)/float64(b.N), "short/op")
}

// benchPlugin runs one plugin per iteration, as a new cron run would:
// cold compiles every time; cached opens the cache folder afresh (as a new
// process does) and finds the compiled code there.
func benchPlugin(b *testing.B, src string, cached bool) {
	wasm := buildPlugin(b, src)
	dir := filepath.Join(b.TempDir(), "cache")
	if cached { // warm the cache
		c, err := openWasmCache(dir)
		if err != nil {
			b.Fatal(err)
		}
		p := &pluginSource{name: "p", path: wasm, n: pluginBytes, pages: defaultPluginMemoryPages, timeout: time.Minute, cache: c}
		if _, err := p.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
		c.Close(context.Background())
	}
	for b.Loop() {
		var c *wasmCache
		if cached {
			c, _ = openWasmCache(dir)
		}
		p := &pluginSource{name: "p", path: wasm, n: pluginBytes, pages: defaultPluginMemoryPages, timeout: time.Minute, cache: c}
		if _, err := p.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
		if c != nil {
			c.Close(context.Background())
		}
	}
}

func BenchmarkPluginGoCold(b *testing.B)     { benchPlugin(b, "../plugins/gojitter", false) }
func BenchmarkPluginGoCached(b *testing.B)   { benchPlugin(b, "../plugins/gojitter", true) }
func BenchmarkPluginTinyCold(b *testing.B)   { benchPlugin(b, "../plugins/tiny/tiny.wat", false) }
func BenchmarkPluginTinyCached(b *testing.B) { benchPlugin(b, "../plugins/tiny/tiny.wat", true) }
