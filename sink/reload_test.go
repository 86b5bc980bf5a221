package sink

import (
	"bytes"
	"crypto/rand"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// A reload adds signers, with their floors; keeps every stored counter
// (a lower floor changes nothing, a higher one raises it, durably, before
// Reload returns); removes signers while their state file entries stay, so
// that a signer configured again has its counter back.
func TestReloadSigners(t *testing.T) {
	dir := t.TempDir()
	k := vectorKeys(t)
	b := extraSigner(t, 0)
	cfg := testConfig(t, dir, nil)
	logs := &syncBuffer{}
	s, addr := start(t, cfg, Options{Logger: textLogger(logs)})
	expect := func(step string, key any, counter int64, status packet.Status, value int64) {
		t.Helper()
		signer := k.signer
		if key == "b" {
			signer = b
		}
		if got, v := send(t, addr, frame(t, signer, packet.Protocol2, k.sinkPublic, counter, epoch)); got != status || v != value {
			t.Fatalf("%s: %v counter %d: %s %d, want %s %d", step, key, counter, got, v, status, value)
		}
	}
	reload := func(edit func(*Config)) *Config {
		t.Helper()
		c := testConfig(t, dir, edit)
		if err := s.Reload(c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	withB := func(floor int64) func(*Config) {
		return func(c *Config) { c.Signers = []SignerConfig{{Name: "b", Signer: pkix(t, b), Counter: floor}} }
	}
	expect("before", "default", 5, packet.StatusAccepted, 0)
	expect("before", "b", 1, packet.StatusUnverified, 0)

	cfg = reload(func(c *Config) { c.Counter = 2; withB(10)(c) })
	expect("b added", "b", 10, packet.StatusCounter, 10)
	expect("b added", "b", 11, packet.StatusAccepted, 0)
	expect("lower floor", "default", 5, packet.StatusCounter, 5)
	expect("lower floor", "default", 6, packet.StatusAccepted, 0)
	if got := storedCounters(t, cfg); !maps.Equal(got, map[string]int64{"default": 6, "b": 11}) {
		t.Fatalf("on disk %v", got)
	}

	// b removed, default's floor raised: stored before Reload returns.
	cfg = reload(func(c *Config) { c.Counter = 100 })
	st, _ := Status(cfg)
	if len(st) != 2 || st[0].Counter != 100 || st[1].Name != "" || st[1].Counter != 11 {
		t.Fatalf("on disk after raising the floor and removing b: %+v", st)
	}
	expect("raised floor", "default", 50, packet.StatusCounter, 100)
	expect("b removed", "b", 12, packet.StatusUnverified, 0)
	if c := s.counters(); !maps.Equal(c, map[string]int64{"default": 100}) {
		t.Fatalf("counters %v", c)
	}

	// b configured again, under another name and with no floor: its
	// counter is back.
	cfg = reload(func(c *Config) {
		withB(0)(c)
		c.Signers[0].Name = "b-again"
	})
	expect("b back", "b", 11, packet.StatusCounter, 11)
	expect("b back", "b", 12, packet.StatusAccepted, 0)
	if got := storedCounters(t, cfg); !maps.Equal(got, map[string]int64{"default": 100, "b-again": 12}) {
		t.Fatalf("on disk %v", got)
	}
	if n := strings.Count(logs.String(), `msg=reloaded`); n != 3 {
		t.Fatalf("%d reloaded lines:\n%s", n, logs)
	}
}

// A configuration that cannot be put in service leaves the sink serving as
// it was: the error says why.
func TestReloadFailureKeepsServing(t *testing.T) {
	dir := t.TempDir()
	k := vectorKeys(t)
	cfg := testConfig(t, dir, nil)
	s, addr := start(t, cfg, Options{})
	pool := filepath.Join(dir, "pool.bin")
	if got, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); got != packet.StatusAccepted {
		t.Fatal(got)
	}

	bad := testConfig(t, dir, nil)
	credit := maxCredit + 1
	bad.Credit = &credit
	var ce *ConfigError
	if err := s.Reload(bad); !errors.As(err, &ce) || ce.Field != "Credit" {
		t.Fatalf("bad credit: %v", err)
	}
	noPool := testConfig(t, dir, func(c *Config) { c.Pool = "file:" + filepath.Join(dir, "missing", "pool.bin") })
	if err := s.Reload(noPool); err == nil || !strings.Contains(err.Error(), "file pool") {
		t.Fatalf("pool that does not open: %v", err)
	}
	if got, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch)); got != packet.StatusAccepted {
		t.Fatal(got)
	}
	if data, _ := os.ReadFile(pool); len(data) != 2*packet.ChunkSize {
		t.Fatalf("the pool in use holds %d bytes", len(data))
	}
	// A reload that cannot store its new signers' counters changes nothing.
	s.write = func([]entry) error { return errors.New("disk full") }
	withB := testConfig(t, dir, func(c *Config) { c.Signers = []SignerConfig{{Name: "b", Signer: pkix(t, extraSigner(t, 0))}} })
	if err := s.Reload(withB); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("state not stored: %v", err)
	}
	if got, _ := send(t, addr, frame(t, extraSigner(t, 0), packet.Protocol2, k.sinkPublic, 1, epoch)); got != packet.StatusUnverified {
		t.Fatalf("a signer of the configuration not put in service: %s", got)
	}
}

// A frame in flight during a reload finishes under the configuration it
// arrived under: its signer, removed meanwhile, is still accepted, and its
// chunk goes to the pool of that configuration; the next frame is served
// under the new one.
func TestReloadInFlight(t *testing.T) {
	dir := t.TempDir()
	k := vectorKeys(t)
	b := extraSigner(t, 0)
	cfg := testConfig(t, dir, func(c *Config) { c.Signers = []SignerConfig{{Name: "b", Signer: pkix(t, b)}} })
	s, addr := start(t, cfg, Options{})
	poolA, poolB := filepath.Join(dir, "pool.bin"), filepath.Join(dir, "pool-b.bin")

	f := frame(t, b, packet.Protocol2, k.sinkPublic, 1, epoch)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(f[:100])
	old := s.current()
	waitFor(t, func() bool { return old.active.Load() == 1 }) // the connection has taken its generation

	if err := s.Reload(testConfig(t, dir, func(c *Config) { c.Pool = "file:" + poolB })); err != nil {
		t.Fatal(err)
	}
	c.Write(f[100:])
	c.(*net.TCPConn).CloseWrite()
	if got, _, err := packet.ReadStatus(c); err != nil || got != packet.StatusAccepted {
		t.Fatalf("frame in flight: %s %v", got, err)
	}
	if got, _ := send(t, addr, frame(t, b, packet.Protocol2, k.sinkPublic, 2, epoch)); got != packet.StatusUnverified {
		t.Fatalf("b after the reload: %s", got)
	}
	if got, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); got != packet.StatusAccepted {
		t.Fatalf("default after the reload: %s", got)
	}
	a, _ := os.ReadFile(poolA)
	bb, _ := os.ReadFile(poolB)
	if !bytes.Equal(a, chunkOf(t, f)) || len(bb) != packet.ChunkSize {
		t.Fatalf("pool A holds %d bytes, pool B %d", len(a), len(bb))
	}
	if st, _ := Status(cfg); len(st) != 2 || st[1].Counter != 1 {
		t.Fatalf("b's counter, stored under the old configuration: %+v", st)
	}
}

// Reloads while frames arrive from several senders, with the pool given
// to the sink or its own (switched between two files by every other
// reload): no counter goes back, every accepted chunk is fed once, and the
// race detector sees the generations swapped cleanly.
func TestReloadUnderLoad(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "given pool", true: "own pools"}[own], func(t *testing.T) {
			dir := t.TempDir()
			k := vectorKeys(t)
			b := extraSigner(t, 0)
			both := func(c *Config) { c.Signers = []SignerConfig{{Name: "b", Signer: pkix(t, b)}} }
			cfg := testConfig(t, dir, both)
			pool := &recordingPool{}
			opts := Options{pool: pool}
			if own {
				opts.pool = nil
			}
			s, addr := start(t, cfg, opts)

			var (
				accepted atomic.Int64
				stop     = make(chan struct{})
				wg       sync.WaitGroup
			)
			for i := range 4 {
				signer := k.signer
				if i%2 == 1 {
					signer = b
				}
				wg.Go(func() {
					for n := int64(1 + i/2*1000000); ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						st, _, err := trySend(addr, frame(t, signer, packet.Protocol2, k.sinkPublic, n, epoch))
						if err == nil && st == packet.StatusAccepted {
							accepted.Add(1)
						}
					}
				})
			}
			last := map[string]int64{}
			for i := range 20 {
				edit := both
				if i%2 == 0 {
					edit = func(c *Config) {
						both(c)
						c.Drift, c.MaxConns, c.Pool = 60, 100, "file:"+filepath.Join(dir, "pool-b.bin")
					}
				}
				cfg = testConfig(t, dir, edit)
				if err := s.Reload(cfg); err != nil {
					t.Fatal(err)
				}
				for name, c := range storedCounters(t, cfg) {
					if c < last[name] {
						t.Fatalf("%s's counter went back from %d to %d", name, last[name], c)
					}
					last[name] = c
				}
				time.Sleep(10 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			chunks := pool.all()
			if own {
				chunks = nil
				for _, name := range []string{"pool.bin", "pool-b.bin"} {
					data, _ := os.ReadFile(filepath.Join(dir, name))
					for ch := range slices.Chunk(data, packet.ChunkSize) {
						chunks = append(chunks, ch)
					}
				}
			}
			seen := map[string]bool{}
			for _, ch := range chunks {
				if seen[string(ch)] {
					t.Fatal("a chunk fed twice")
				}
				seen[string(ch)] = true
			}
			if n := accepted.Load(); n == 0 || int64(len(seen)) != n {
				t.Fatalf("%d accepted, %d fed", n, len(seen))
			}
		})
	}
}

// A reload that changes what it cannot (the listen addresses, the state
// file) says a restart is needed, and puts the rest in service.
func TestReloadSaysRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	logs := &syncBuffer{}
	s, _ := start(t, cfg, Options{Logger: textLogger(logs)})
	var newKey [32]byte
	rand.Read(newKey[:])
	if err := s.Reload(testConfig(t, dir, func(c *Config) {
		c.Address, c.Metrics, c.Drift, c.Private = ":4242", "127.0.0.1:9438", 0, newKey[:]
	})); err != nil {
		t.Fatal(err)
	}
	// Reloaded again with the same: still not in use, still said.
	if err := s.Reload(testConfig(t, dir, func(c *Config) {
		c.Address, c.Metrics, c.Drift, c.Private = ":4242", "127.0.0.1:9438", 0, newKey[:]
	})); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `msg="Address changed`); n != 2 {
		t.Errorf("%d Address warnings over two reloads", n)
	}
	for _, want := range []string{
		`msg="Address changed: a reload does not change it; restart the sink to use it" in_use=127.0.0.1:4141 configured=:4242`,
		`msg="Metrics changed: a reload does not change it; restart the sink to use it" in_use="" configured=127.0.0.1:9438`,
		`msg="Drift is 0`,
		`msg="the sink's key changed: sources seal to the old one until their targets entries carry the new public key" public=SHA256:`,
		`msg=reloaded pool=file:` + dir + `/pool.bin credit=256 drift=0 signers="default SHA256:`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if g := s.current(); g.drift != 0 {
		t.Fatalf("drift %d", g.drift)
	}
}

// A frame in flight through two reloads, the first keeping the pool and
// the second replacing it, still feeds the pool it arrived under: the pool
// is closed only when every connection of every configuration that used
// it is done.
func TestReloadInFlightAcrossReloads(t *testing.T) {
	dir := t.TempDir()
	k := vectorKeys(t)
	cfg := testConfig(t, dir, nil)
	s, addr := start(t, cfg, Options{})
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(f[:100])
	first := s.current()
	waitFor(t, func() bool { return first.active.Load() == 1 })

	if err := s.Reload(testConfig(t, dir, func(c *Config) { c.Drift = 60 })); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(testConfig(t, dir, func(c *Config) { c.Pool = "file:" + filepath.Join(dir, "pool-b.bin") })); err != nil {
		t.Fatal(err)
	}
	c.Write(f[100:])
	c.(*net.TCPConn).CloseWrite()
	if got, _, err := packet.ReadStatus(c); err != nil || got != packet.StatusAccepted {
		t.Fatalf("frame in flight: %s %v", got, err)
	}
	if a, _ := os.ReadFile(filepath.Join(dir, "pool.bin")); !bytes.Equal(a, chunkOf(t, f)) {
		t.Fatalf("the first pool holds %d bytes", len(a))
	}
}
