package sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
)

// An accepted frame feeds exactly its 1024 bytes and moves the counter on
// disk; every kind of bad frame is refused with its reply, changing nothing.
func TestAcceptAndReject(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, func(c *Config) { c.Counter = 5; c.Legacy = true })
	pool := filepath.Join(dir, "pool.bin")
	logs := &syncBuffer{}
	_, addr := start(t, cfg, Options{Logger: textLogger(logs)})
	k := vectorKeys(t)
	now := epoch

	var otherSink [32]byte
	rand.Read(otherSink[:])
	otherPub, _ := packet.NewRecipient(&otherSink, nil)
	valid := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 6, now)
	tampered := bytes.Clone(valid)
	tampered[len(tampered)-10] ^= 1
	oversize := append(header(packet.DefaultMaxFrame+1), make([]byte, packet.DefaultMaxFrame+1)...)
	truncated := valid[:len(valid)-200]

	cases := []struct {
		name   string
		data   []byte
		status packet.Status
		value  int64
	}{
		{"stale counter", frame(t, k.signer, packet.Protocol2, k.sinkPublic, 3, now), packet.StatusCounter, 5},
		{"equal counter", frame(t, k.signer, packet.Protocol2, k.sinkPublic, 5, now), packet.StatusCounter, 5},
		{"drift past", frame(t, k.signer, packet.Protocol2, k.sinkPublic, 7, now.Add(-121*time.Second)), packet.StatusDrift, now.Unix()},
		{"drift future", frame(t, k.signer, packet.Protocol2, k.sinkPublic, 7, now.Add(121*time.Second)), packet.StatusDrift, now.Unix()},
		{"wrong sink key", frame(t, k.signer, packet.Protocol2, otherPub.Public(), 7, now), packet.StatusUnverified, 0},
		{"wrong signer", frame(t, extraSigner(t, 0), packet.Protocol2, k.sinkPublic, 7, now), packet.StatusUnverified, 0},
		{"unsigned", unsignedFrame(t, k.sinkPublic, 7, now), packet.StatusUnverified, 0},
		{"tampered", tampered, packet.StatusUnverified, 0},
		{"oversize", oversize, packet.StatusMalformed, 0},
		{"undersize", append(header(packet.MinFrame-1), make([]byte, packet.MinFrame-1)...), packet.StatusMalformed, 0},
		{"truncated", truncated, packet.StatusMalformed, 0},
		// The original's own bad frames (the sink is Legacy here).
		{"v1 wrong recipient", vectors.Read(t, "wrong-recipient.frame"), packet.StatusUnverified, 0},
		{"v1 unsigned", vectors.Read(t, "unsigned.frame"), packet.StatusUnverified, 0},
		{"v1 wrong signer", vectors.Read(t, "wrong-signer.frame"), packet.StatusUnverified, 0},
		{"v1 tampered", vectors.Read(t, "tampered.frame"), packet.StatusUnverified, 0},
		{"v1 short chunk", vectors.Read(t, "short-chunk.frame"), packet.StatusMalformed, 0},
		{"v1 not asn1", vectors.Read(t, "not-asn1.frame"), packet.StatusMalformed, 0},
		{"v1 truncated", vectors.Read(t, "truncated.frame"), packet.StatusMalformed, 0},
		{"v1 replay of counter 1", vectors.Read(t, "valid-1.frame"), packet.StatusCounter, 5},
	}
	before := fileBytes(t, cfg.StatePath())
	config := fileBytes(t, cfg.path)
	// A connection closed before its first byte gets no reply.
	if st, _, err := trySend(addr, nil); !errors.Is(err, io.EOF) {
		t.Errorf("empty connection: %s %v, want no reply", st, err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, v := send(t, addr, tc.data)
			if s != tc.status || v != tc.value {
				t.Errorf("reply %s %d, want %s %d", s, v, tc.status, tc.value)
			}
			if got := fileBytes(t, cfg.StatePath()); !bytes.Equal(got, before) {
				t.Error("state file changed")
			}
			if n := len(fileBytes(t, pool)); n != 0 {
				t.Errorf("pool holds %d bytes", n)
			}
		})
	}

	if s, v := send(t, addr, valid); s != packet.StatusAccepted {
		t.Fatalf("valid frame: %s %d\n%s", s, v, logs)
	}
	if got := fileBytes(t, pool); !bytes.Equal(got, chunkOf(t, valid)) {
		t.Fatalf("pool holds %d bytes, want the frame's 1024-byte chunk", len(got))
	}
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != 6 {
		t.Fatalf("counter on disk: %d", c)
	}
	if fi, _ := os.Stat(cfg.StatePath()); fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %04o", fi.Mode().Perm())
	}
	if !bytes.Equal(fileBytes(t, cfg.path), config) {
		t.Fatal("the configuration changed")
	}
	if s, v := send(t, addr, valid); s != packet.StatusCounter || v != 6 {
		t.Fatalf("replay: %s %d", s, v)
	}
	if n := len(fileBytes(t, pool)); n != packet.ChunkSize {
		t.Fatalf("replay fed: pool holds %d bytes", n)
	}
	// The window's edges are inside it.
	for i, ts := range []time.Time{now.Add(-120 * time.Second), now.Add(120 * time.Second)} {
		if s, v := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, int64(7+i), ts)); s != packet.StatusAccepted {
			t.Errorf("edge of drift window: %s %d", s, v)
		}
	}
	out := logs.String()
	for _, want := range []string{"msg=accepted", "reason=counter", "reason=drift", "reason=decrypt",
		"reason=unsigned", "reason=signature", "reason=frame-size", "reason=chunk-size", "reason=malformed",
		"protocol=2 signer=default counter=6"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(out, "NTScfUsXdO58XWDxeAkWWmX0XUvmeol") {
		t.Error("log holds the private key")
	}
}

// A protocol 1 frame from a signer not marked Legacy is refused, and the
// log says how to accept it. Good frames just before it do not use up the
// hint's allowance (one a second).
func TestLegacyRequired(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	logs := &syncBuffer{}
	_, addr := start(t, cfg, Options{Logger: textLogger(logs)})
	k := vectorKeys(t)
	for c := range 3 {
		if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, int64(100+c), epoch)); st != packet.StatusAccepted {
			t.Fatalf("good frame %d: %s", c, st)
		}
	}
	if s, _ := send(t, addr, vectors.Read(t, "valid-1.frame")); s != packet.StatusUnverified {
		t.Fatalf("protocol 1 from a non-legacy signer: %s", s)
	}
	if !strings.Contains(logs.String(), `set \"Legacy\": true`) {
		t.Fatalf("no legacy hint in log:\n%s", logs)
	}
}

// The counter survives a restart: a frame accepted before is refused after.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	k := vectorKeys(t)
	first := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	cfg := testConfig(t, dir, nil)
	s, err := New(cfg, Options{now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(l)
	if st, _ := send(t, l.Addr().String(), first); st != packet.StatusAccepted {
		t.Fatalf("first: %s", st)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	cfg2, err := LoadConfig(cfg.path)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, cfg2, Options{})
	if st, v := send(t, addr, first); st != packet.StatusCounter || v != 1 {
		t.Fatalf("replay after restart: %s %d", st, v)
	}
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch)); st != packet.StatusAccepted {
		t.Fatalf("next after restart: %s", st)
	}
	if n := len(fileBytes(t, filepath.Join(dir, "pool.bin"))); n != 2*packet.ChunkSize {
		t.Fatalf("pool holds %d bytes", n)
	}
}

// Connections that send nothing, half a header, or garbage do not stop a
// valid frame from being accepted promptly.
func TestSlowlorisAndGarbage(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil) // MaxConns 256
	_, addr := start(t, cfg, Options{})
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	// From addresses of their own: one address holds at most
	// MaxConnsPerAddress connections.
	dial := func(i int) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i/defaultMaxConnsPerAddress))}}
		return d.Dial("tcp", addr)
	}
	for i := range 150 {
		c, err := dial(i)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		switch i % 3 {
		case 1: // half a header
			c.Write([]byte{0x05})
		case 2: // a header promising a frame, then a trickle of it
			c.Write(append(header(1381), make([]byte, 10)...))
		}
	}
	for i := range 50 {
		junk := make([]byte, 1+int(randByte())*8)
		rand.Read(junk)
		c, err := dial(150 + i)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write(junk)
	}
	k := vectorKeys(t)
	st, v, err := trySend(addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch))
	if err != nil || st != packet.StatusAccepted {
		t.Fatalf("valid frame among stalled connections: %s %d %v", st, v, err)
	}
}

func randByte() byte {
	var b [1]byte
	rand.Read(b[:])
	return b[0]
}

// Many senders at once: every counter is accepted at most once, the
// accepted ones are exactly those fed, and state writes are shared.
func TestConcurrentSenders(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, func(c *Config) { c.MaxConnsPerAddress = 64 }) // all from 127.0.0.1
	pool := &recordingPool{}
	var writes atomic.Int64
	write := onWrite(func() error {
		writes.Add(1)
		time.Sleep(2 * time.Millisecond) // a slow disk makes batches visible
		return nil
	})
	s, addr := start(t, cfg, Options{pool: pool, wrapWrite: write})
	k := vectorKeys(t)
	const n = 120
	frames := make([][]byte, n)
	chunkCounter := map[string]int64{}
	for i := range frames {
		// Counters 1..n/2, each sealed twice (different chunks): a sender
		// racing its own duplicate must lose.
		c := int64(i/2 + 1)
		frames[i] = frame(t, k.signer, packet.Protocol2, k.sinkPublic, c, epoch)
		chunkCounter[string(chunkOf(t, frames[i]))] = c
	}
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		accepted atomic.Int64
	)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				st, _, err := trySend(addr, frames[i])
				if err != nil {
					t.Error(err)
					return
				}
				switch st {
				case packet.StatusAccepted:
					accepted.Add(1)
				case packet.StatusCounter:
				default:
					t.Errorf("frame %d: %s", i, st)
				}
			}
		}()
	}
	wg.Wait()
	fed := pool.all()
	if int64(len(fed)) != accepted.Load() || len(fed) == 0 {
		t.Fatalf("%d accepted, %d fed", accepted.Load(), len(fed))
	}
	seen := map[int64]bool{}
	last := int64(0)
	for _, c := range fed {
		counter, ok := chunkCounter[string(c)]
		if !ok || seen[counter] {
			t.Fatalf("counter %d fed twice (or unknown chunk)", counter)
		}
		seen[counter] = true
		last = max(last, counter)
	}
	if got := s.counters()[DefaultSignerName]; got != last {
		t.Fatalf("stored counter %d, highest fed %d", got, last)
	}
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != last {
		t.Fatalf("counter on disk %d, want %d", c, last)
	}
	if writes.Load() >= accepted.Load() && accepted.Load() > 4 {
		t.Logf("no group commit observed: %d writes for %d packets", writes.Load(), accepted.Load())
	}
	t.Logf("%d frames, %d accepted, %d state writes", n, accepted.Load(), writes.Load())
}

// Group commit shares one write between packets waiting at the same time.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, func(c *Config) {
		for i := range 4 {
			c.Signers = append(c.Signers, SignerConfig{Name: fmt.Sprint("board", i), Signer: pkix(t, extraSigner(t, i))})
		}
	})
	gate := make(chan struct{})
	var writes atomic.Int64
	write := onWrite(func() error {
		if writes.Add(1) == 1 {
			<-gate // hold the first write until the others queue up
		}
		return nil
	})
	s, addr := start(t, cfg, Options{pool: &recordingPool{}, wrapWrite: write})
	k := vectorKeys(t)
	var wg sync.WaitGroup
	send1 := func(f []byte) {
		defer wg.Done()
		if st, v := send(t, addr, f); st != packet.StatusAccepted {
			t.Errorf("%s %d", st, v)
		}
	}
	wg.Add(1)
	go send1(frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch))
	waitFor(t, func() bool { return writes.Load() == 1 })
	for i := range 4 {
		wg.Add(1)
		go send1(frame(t, extraSigner(t, i), packet.Protocol2, k.sinkPublic, 1, epoch))
	}
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cur != nil && s.cur.n == 4
	})
	close(gate)
	wg.Wait()
	if w := writes.Load(); w != 2 {
		t.Fatalf("%d state writes for 5 packets in 2 batches", w)
	}
	want := map[string]int64{"default": 1, "board0": 1, "board1": 1, "board2": 1, "board3": 1}
	if got := storedCounters(t, cfg); !maps.Equal(got, want) {
		t.Errorf("counters on disk %v, want %v", got, want)
	}
}

// Inside one batch, a counter overtaken by another connection is refused.
func TestOvertakenInBatch(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, err := New(cfg, Options{pool: &recordingPool{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	s.mu.Lock() // hold the committer off while reservations queue
	b7, err7 := reserveLocked(s, 0, 7)
	_, err5 := reserveLocked(s, 0, 5)
	s.mu.Unlock()
	if err7 != nil {
		t.Fatal(err7)
	}
	var ce *packet.CounterError
	if !errors.As(err5, &ce) || ce.Stored != 7 {
		t.Fatalf("overtaken counter: %v", err5)
	}
	<-b7.done
	if b7.err != nil || s.counters()[DefaultSignerName] != 7 {
		t.Fatalf("batch: %v, counters %v", b7.err, s.counters())
	}
}

// reserveLocked is reserve for a caller already holding s.mu.
func reserveLocked(s *Server, i int, c int64) (*batch, error) {
	s.mu.Unlock()
	defer s.mu.Lock()
	return s.reserve(i, c)
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// With MaxConnsPerAddress connections open from one address, one more
// from it is told the sink is busy; from another address it is served.
func TestBusy(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, func(c *Config) { c.MaxConnsPerAddress = 2 })
	s, addr := start(t, cfg, Options{})
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitFor(t, func() bool { return s.open.Load() == 2 })
	k := vectorKeys(t)
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	if st, _ := send(t, addr, f); st != packet.StatusBusy {
		t.Fatalf("excess connection: %s", st)
	}
	if n := len(fileBytes(t, filepath.Join(dir, "pool.bin"))); n != 0 {
		t.Fatal("busy connection fed the pool")
	}
	if st, _ := sendFrom(t, "127.0.0.2", addr, f); st != packet.StatusAccepted {
		t.Fatalf("from another address: %s", st)
	}
	for _, c := range idle {
		c.Close()
	}
	waitFor(t, func() bool { return s.open.Load() == 0 })
	f = frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch)
	if st, _ := send(t, addr, f); st != packet.StatusAccepted {
		t.Fatalf("after the idle ones left: %s", st)
	}
}

// A state write that fails refuses the packet with 0x05, feeds nothing,
// keeps the counter where it was, and the sink accepts again once the
// fault clears.
func TestStoreFailure(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	var fail atomic.Bool
	write := onWrite(func() error {
		if fail.Load() {
			return errors.New("no space left on device")
		}
		return nil
	})
	logs := &syncBuffer{}
	s, addr := start(t, cfg, Options{wrapWrite: write, Logger: textLogger(logs)})
	k := vectorKeys(t)
	pool := filepath.Join(dir, "pool.bin")
	before := fileBytes(t, cfg.StatePath())
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)

	fail.Store(true)
	if st, _ := send(t, addr, f); st != packet.StatusUnavailable {
		t.Fatalf("failed store: %s", st)
	}
	if len(fileBytes(t, pool)) != 0 || !bytes.Equal(fileBytes(t, cfg.StatePath()), before) {
		t.Fatal("failed store changed the pool or the state file")
	}
	if c := s.counters()[DefaultSignerName]; c != 0 {
		t.Fatalf("counter in memory moved to %d", c)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 {
		t.Fatalf("healthz during the fault: %d", rec.Code)
	}
	if !strings.Contains(logs.String(), "reason=store") {
		t.Fatalf("log:\n%s", logs)
	}

	fail.Store(false)
	if st, v := send(t, addr, f); st != packet.StatusAccepted { // the same counter: it never moved
		t.Fatalf("after the fault: %s %d", st, v)
	}
	if n := len(fileBytes(t, pool)); n != packet.ChunkSize {
		t.Fatalf("pool holds %d bytes", n)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("healthz after the fault: %d", rec.Code)
	}
}

// The same with the real writer: a file size limit makes the kernel refuse
// (EFBIG) the write to the state file's second slot, where the first write
// after start-up goes; once lifted, the same write succeeds.
func TestStoreFailureRealDisk(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	logs := &syncBuffer{}
	s, addr := start(t, cfg, Options{Logger: textLogger(logs)})
	k := vectorKeys(t)
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	before := fileBytes(t, cfg.StatePath())

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = blockSize
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot limit file sizes: %v", err)
	}
	st, _ := send(t, addr, f)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if st != packet.StatusUnavailable {
		t.Fatalf("unwritable state: %s", st)
	}
	if n := len(fileBytes(t, filepath.Join(dir, "pool.bin"))); n != 0 {
		t.Fatal("fed although the counter was not stored")
	}
	if !bytes.Equal(fileBytes(t, cfg.StatePath()), before) || s.counters()[DefaultSignerName] != 0 {
		t.Fatal("a failed write moved the counter")
	}
	if !strings.Contains(logs.String(), "file too large") {
		t.Fatalf("log does not say why:\n%s", logs)
	}
	if st, _ := send(t, addr, f); st != packet.StatusAccepted {
		t.Fatalf("after the fault: %s", st)
	}
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != 1 {
		t.Fatalf("counter on disk %d", c)
	}
}

// A pool that fails after the counter is stored: 0x05, and the counter
// stays consumed (a chunk is never fed twice).
func TestFeedFailure(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, addr := start(t, cfg, Options{pool: failingPool{}})
	k := vectorKeys(t)
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusUnavailable {
		t.Fatalf("failed feed: %s", st)
	}
	if c := s.counters()[DefaultSignerName]; c != 1 {
		t.Fatalf("counter %d", c)
	}
}

type failingPool struct{}

func (failingPool) Feed([]byte) (int, error) { return 0, errors.New("pool broken") }
func (failingPool) Close() error             { return nil }

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, addr := start(t, cfg, Options{})
	k := vectorKeys(t)
	send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 3, epoch))
	send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch))
	waitFor(t, func() bool { return s.open.Load() == 0 })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`entropyshare_sink_packets_accepted_total{signer="default"} 1`,
		`entropyshare_sink_packets_rejected_total{reason="counter",signer="default"} 1`,
		`entropyshare_sink_fed_bytes_total 1024`,
		`entropyshare_sink_counter{signer="default"} 3`,
		`entropyshare_sink_last_accepted_timestamp_seconds{signer="default"} 1.7e+09`,
		`entropyshare_sink_open_connections 0`,
		`entropyshare_sink_credited_bits_total 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %q", rec.Code, rec.Body)
	}
}

// Shutdown lets a connection in flight finish, closes one that stalls past
// the deadline, and leaves no goroutine behind.
func TestShutdownAndLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, err := New(cfg, Options{now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()
	k := vectorKeys(t)
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)

	// One connection mid-frame, finishing after Shutdown starts.
	inflight, _ := net.Dial("tcp", addr)
	inflight.Write(f[:100])
	// One that never finishes.
	stalled, _ := net.Dial("tcp", addr)
	stalled.Write(f[:10])
	defer stalled.Close()
	waitFor(t, func() bool { return s.open.Load() == 2 })

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	waitFor(t, func() bool { return s.shutting.Load() })
	inflight.Write(f[100:])
	inflight.(*net.TCPConn).CloseWrite()
	st, _, err := packet.ReadStatus(inflight)
	inflight.Close()
	if err != nil || st != packet.StatusAccepted {
		t.Fatalf("in-flight connection: %s %v", st, err)
	}
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown with a stalled connection: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	stalled.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
