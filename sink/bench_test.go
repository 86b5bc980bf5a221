package sink

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/packet"
)

// benchSenders is the most concurrent senders a benchmark uses, each a
// board with its own RSA-2048 signer and counter sequence (one signer's
// counters must arrive in order to be accepted, so senders do not share
// one). A sink with n signers tries up to n signatures per packet, as the
// protocol carries no signer name: more senders cost the sink more.
const benchSenders = 8

// Frames are sealed once per test binary and reused by every benchmark
// round: each round starts a fresh sink at counter 0, and sealing (an
// RSA-2048 signature, ~0.85 ms) is kept outside the timed loop.
var benchCache struct {
	mu     sync.Mutex
	frames [benchSenders][][]byte // frames[s][i] carries counter i+1
}

func benchFrames(b *testing.B, perSender int) [benchSenders][][]byte {
	benchCache.mu.Lock()
	defer benchCache.mu.Unlock()
	k := vectorKeys(b)
	var wg sync.WaitGroup
	for s := range benchSenders {
		key := extraSigner(b, s)
		have := len(benchCache.frames[s])
		if have >= perSender {
			continue
		}
		more := make([][]byte, perSender-have)
		workers := runtime.GOMAXPROCS(0)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(more); i += workers {
					more[i] = sealBench(key, k.sinkPublic, int64(have+i+1))
				}
			}()
		}
		wg.Wait()
		benchCache.frames[s] = append(benchCache.frames[s], more...)
	}
	return benchCache.frames
}

func sealBench(key *rsa.PrivateKey, to *[packet.KeySize]byte, counter int64) []byte {
	p := &packet.Packet{Timestamp: epoch.Unix(), Counter: counter}
	rand.Read(p.Chunk[:])
	payload, err := packet.Seal(rand.Reader, p, packet.Protocol2, key, to)
	if err != nil {
		panic(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

func benchConfig(b *testing.B, signers int) *Config {
	dir := b.TempDir()
	return testConfig(b, dir, func(c *Config) {
		c.Signer = nil
		c.MaxConns = 2048
		c.MaxConnsPerAddress = 2048 // every sender is 127.0.0.1
		for s := range signers {
			c.Signers = append(c.Signers, SignerConfig{Name: fmt.Sprint("board", s), Signer: pkix(b, extraSigner(b, s))})
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drive sends b.N frames from senders concurrent senders, one new
// connection per frame, and reports throughput and CPU per packet (CPU of
// the whole process: the senders' side of loopback TCP is included).
func drive(b *testing.B, addr string, writes, seedWrites *atomic.Int64, senders int) {
	per := (b.N + senders - 1) / senders
	frames := benchFrames(b, per)
	writes.Store(0)
	seedWrites.Store(0)
	runtime.GC()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	var wg sync.WaitGroup
	var rejected atomic.Int64
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if s*per+i >= b.N {
					return
				}
				st, _, err := trySend(addr, frames[s][i])
				if err != nil || st != packet.StatusAccepted {
					rejected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	if r := rejected.Load(); r > 0 {
		b.Fatalf("%d of %d frames not accepted", r, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "packets/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/packet")
	b.ReportMetric(float64(writes.Load())/float64(b.N), "statewrites/packet")
	b.ReportMetric(float64(seedWrites.Load())/float64(b.N), "seedwrites/packet")
}

// countSeed is the boot seed's writer, updateBootSeed counting its calls,
// or with skip none at all.
func countSeed(n *atomic.Int64, skip bool) seedWriter {
	return func(path string, chunks []byte, id machineIdentity, now time.Time) error {
		if skip {
			return nil
		}
		n.Add(1)
		return updateBootSeed(path, chunks, id, now)
	}
}

// BenchmarkAccept: the sink (concurrent connections, group commit) with
// its state file written in place to alternate slots (one fdatasync per
// batch) and the boot seed replaced per batch, as shipped; the same sink
// without the boot seed; the same sink storing each batch by replacing the
// state file (temporary file, fsync, rename, fsync of the folder); and a
// serial accept-verify-write loop that replaces the file for every packet
// before feeding it, as a careful one-at-a-time sink would. All feed a
// file pool.
func BenchmarkAccept(b *testing.B) {
	slots := func(_ string, writes *atomic.Int64) func(func([]entry) error) func([]entry) error {
		return onWrite(func() error { writes.Add(1); return nil })
	}
	designs := []struct {
		name   string
		wrap   func(dir string, writes *atomic.Int64) func(func([]entry) error) func([]entry) error
		noSeed bool
	}{
		{"sink-slots", slots, false},
		{"sink-noseed", slots, true},
		{"sink-rename", func(dir string, writes *atomic.Int64) func(func([]entry) error) func([]entry) error {
			return func(func([]entry) error) func([]entry) error {
				return replaceState(filepath.Join(dir, "replaced.state"), writes)
			}
		}, false},
	}
	// One sender: BenchmarkOneSender, which pairs the designs round by round.
	for _, d := range designs {
		for _, senders := range []int{4, 8} {
			b.Run(fmt.Sprintf("%s/senders=%d", d.name, senders), func(b *testing.B) {
				cfg := benchConfig(b, senders)
				var writes, seedWrites atomic.Int64
				_, addr := start(b, cfg, Options{wrapWrite: d.wrap(filepath.Dir(cfg.path), &writes), writeSeed: countSeed(&seedWrites, d.noSeed)})
				drive(b, addr, &writes, &seedWrites, senders)
			})
		}
	}
	// The serial loop serves one connection at a time: more senders only
	// queue more connections.
	for _, senders := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("baseline-serial/senders=%d", senders), func(b *testing.B) {
			cfg := benchConfig(b, senders)
			var writes atomic.Int64
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				serialSink(b, l, cfg, &writes)
			}()
			drive(b, l.Addr().String(), &writes, new(atomic.Int64), senders)
			l.Close()
			<-done
		})
	}
}

// BenchmarkOneSender: one sender, so no batching, and every packet waits
// for its own state write: the sink with each state file design, and the
// shipped one (slots) without its boot seed, against the serial loop. The
// four take turns in short rounds (the first to go rotates), so that load
// drifting on the machine (other processes, the host's disk) falls on all
// alike; each reports the median of its rounds' rates, and the ratios are
// medians of the rounds' paired ratios.
func BenchmarkOneSender(b *testing.B) {
	const rounds, per = 9, 20
	const designs = 4
	frames := benchFrames(b, rounds*per*b.N)[0]
	var writes, seedWrites [designs]atomic.Int64
	names := []string{"slots", "rename", "serial", "noseed"}
	addrs := make([]string, designs)
	cfg := benchConfig(b, 1)
	_, addrs[0] = start(b, cfg, Options{wrapWrite: onWrite(func() error { writes[0].Add(1); return nil }), writeSeed: countSeed(&seedWrites[0], false)})
	cfg = benchConfig(b, 1)
	_, addrs[1] = start(b, cfg, Options{wrapWrite: func(func([]entry) error) func([]entry) error {
		return replaceState(filepath.Join(filepath.Dir(cfg.path), "replaced.state"), &writes[1])
	}})
	cfg = benchConfig(b, 1)
	_, addrs[3] = start(b, cfg, Options{wrapWrite: onWrite(func() error { writes[3].Add(1); return nil }), writeSeed: countSeed(&seedWrites[3], true)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serialSink(b, l, benchConfig(b, 1), &writes[2])
	}()
	defer func() { l.Close(); <-done }()
	addrs[2] = l.Addr().String()

	var rates [designs][]float64
	var ratios [3][]float64
	next := 0
	b.ResetTimer()
	for r := range rounds * b.N {
		var round [designs]float64
		for k := range designs {
			d := (r + k) % designs
			t0 := time.Now()
			for _, f := range frames[next : next+per] {
				if st, _, err := trySend(addrs[d], f); err != nil || st != packet.StatusAccepted {
					b.Fatalf("%s: %s %v", names[d], st, err)
				}
			}
			round[d] = per / time.Since(t0).Seconds()
			rates[d] = append(rates[d], round[d])
		}
		next += per
		ratios[0] = append(ratios[0], round[0]/round[2])
		ratios[1] = append(ratios[1], round[1]/round[2])
		ratios[2] = append(ratios[2], round[0]/round[3])
	}
	b.StopTimer()
	for d, n := range names {
		b.ReportMetric(median(rates[d]), n+"-packets/s")
		b.ReportMetric(float64(writes[d].Load())/float64(rounds*per*b.N), n+"-statewrites/packet")
	}
	b.ReportMetric(float64(seedWrites[0].Load())/float64(rounds*per*b.N), "slots-seedwrites/packet")
	b.ReportMetric(median(ratios[0]), "slots/serial")
	b.ReportMetric(median(ratios[1]), "rename/serial")
	b.ReportMetric(median(ratios[2]), "slots/noseed")
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// replaceState is the other design of the state file: one record (the
// same encoding as a slot), the whole file replaced by each write.
func replaceState(path string, writes *atomic.Int64) func([]entry) error {
	var seq uint64
	return func(es []entry) error {
		writes.Add(1)
		seq++
		data := make([]byte, slotSizeFor(len(es)))
		encodeSlot(data, seq, es)
		return atomicfile.WriteFile(path, data, stateMode)
	}
}

// serialSink is the baseline: one connection at a time, each counter
// written durably (write, fsync, rename, folder fsync) before the chunk is
// fed.
func serialSink(b *testing.B, l net.Listener, cfg *Config, writes *atomic.Int64) {
	k, err := cfg.compile()
	if err != nil {
		b.Error(err)
		return
	}
	pool, err := openFilePool(k.pool.path, false)
	if err != nil {
		b.Error(err)
		return
	}
	defer pool.Close()
	es, at, _ := merge(nil, k.fps, k.floors)
	store := replaceState(filepath.Join(filepath.Dir(cfg.path), "serial.state"), writes)
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(k.readTimeout))
		st := packet.StatusAccepted
		var val int64
		err = func() error {
			payload, err := packet.ReadFrame(c, k.maxFrame)
			if err != nil {
				return err
			}
			o, err := k.recipient.Open(payload)
			if err != nil {
				return err
			}
			if err := packet.CheckDrift(o.Packet.Timestamp, epoch, cfg.Drift); err != nil {
				return err
			}
			e := &es[at[o.Signer]]
			if err := packet.CheckCounter(o.Packet.Counter, e.counter); err != nil {
				return err
			}
			old := *e
			e.counter, e.stored = o.Packet.Counter, epoch.Unix()
			if err := store(es); err != nil {
				*e = old
				return fmt.Errorf("%w: %v", errStore, err)
			}
			_, err = pool.Feed(o.Packet.Chunk[:])
			return err
		}()
		if err != nil {
			st, val = packet.ReplyFor(err)
		}
		packet.WriteStatus(c, st, val)
		c.Close()
	}
}

// BenchmarkIdleConns: memory held by 1000 connections that send nothing
// (each one a goroutine blocked in Read until its deadline). Client and
// server ends live in this one process; the figures are per connection
// pair, both ends included.
func BenchmarkIdleConns(b *testing.B) {
	const n = 1000
	cfg := benchConfig(b, 1)
	s, addr := start(b, cfg, Options{pool: &recordingPool{}})
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		rss0 := rssBytes()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		waitFor(b, func() bool { return s.open.Load() == n })
		runtime.GC()
		runtime.ReadMemStats(&m1)
		rss1 := rssBytes()
		b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/n, "heap-B/conn")
		b.ReportMetric(float64(m1.StackInuse-m0.StackInuse)/n, "stack-B/conn")
		b.ReportMetric(float64(rss1-rss0)/n, "rss-B/conn")
		b.ReportMetric(float64(rss1)/(1<<20), "rss-MB")
		for _, c := range conns {
			c.Close()
		}
		waitFor(b, func() bool { return s.open.Load() == 0 })
	}
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
