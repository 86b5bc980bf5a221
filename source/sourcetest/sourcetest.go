// Package sourcetest is a small entropyshare sink on 127.0.0.1 for the
// source's tests: it opens and checks frames as PROTOCOL.md says, records
// every counter it receives, and can misbehave in the ways a source must
// survive (down, slow, stale counter, original, drift).
package sourcetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"crypto/ecdh"

	"github.com/entropyshare/entropyshare/packet"
)

// Mode is how a test sink behaves.
type Mode int

const (
	// OK checks every frame and replies as a protocol 2 sink.
	OK Mode = iota
	// Down is a closed port: connections are refused.
	Down
	// Slow reads the frame, then waits Delay before answering (longer
	// than the source's timeout).
	Slow
	// Stale starts with a stored counter of StaleCounter: the first packet
	// gets 0x02, the retry above it is accepted.
	Stale
	// Original accepts protocol 1 (Legacy) and closes without a reply, as
	// the original entropyshare sink does.
	Original
	// Drift refuses every packet with 0x03 and a clock an hour ahead.
	Drift
	// Blind replies 0x00 to any frame without opening it (benchmarks: a
	// sink that costs almost nothing).
	Blind
)

func (m Mode) String() string {
	return [...]string{"ok", "down", "slow", "stale", "original", "drift", "blind"}[m]
}

// StaleCounter is the stored counter a Stale sink starts with.
const StaleCounter = 1000

// Sink is a test sink listening on 127.0.0.1.
type Sink struct {
	Mode   Mode
	Addr   string
	Public [32]byte
	// Delay is how long a Slow sink waits (default 2 s).
	Delay time.Duration
	// DriftWindow is the allowed clock difference in seconds (default 3600).
	DriftWindow int64

	recipient *packet.Recipient
	ln        net.Listener
	wg        sync.WaitGroup
	done      chan struct{} // closed by Close
	closeOnce sync.Once

	mu       sync.Mutex
	stored   int64
	received []int64 // counters of every frame that opened, in order
	accepted []int64
	chunks   [][32]byte // SHA-256 of every accepted chunk
	errs     []error
}

// Option configures a sink before it starts serving.
type Option func(*Sink)

// WithDelay sets how long a Slow sink waits.
func WithDelay(d time.Duration) Option { return func(s *Sink) { s.Delay = d } }

// WithDriftWindow sets the allowed clock difference in seconds.
func WithDriftWindow(sec int64) Option { return func(s *Sink) { s.DriftWindow = sec } }

// Start starts a sink for signer in mode m; t.Cleanup stops it.
func Start(t testing.TB, m Mode, signer *rsa.PublicKey, opts ...Option) *Sink {
	t.Helper()
	var priv [32]byte
	if _, err := rand.Read(priv[:]); err != nil {
		t.Fatal(err)
	}
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey().Bytes()
	rcpt, err := packet.NewRecipient(&priv, []packet.Signer{{Key: signer, Legacy: m == Original}})
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{Mode: m, recipient: rcpt,
		Delay: 2 * time.Second, DriftWindow: 3600}
	copy(s.Public[:], pub)
	for _, o := range opts {
		o(s)
	}
	if m == Stale {
		s.stored = StaleCounter
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	if m == Down {
		ln.Close()
		return s
	}
	s.ln = ln
	s.done = make(chan struct{})
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Close stops the sink, cuts a Slow sink's wait short and waits for its
// connections. It may be called more than once.
func (s *Sink) Close() {
	if s.ln != nil {
		s.ln.Close()
		s.closeOnce.Do(func() { close(s.done) })
	}
	s.wg.Wait()
}

func (s *Sink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.handle(c)
		}()
	}
}

func (s *Sink) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	payload, err := packet.ReadFrame(c, 0)
	if err != nil {
		s.fail(err)
		if s.Mode != Blind {
			st, v := packet.ReplyFor(err)
			packet.WriteStatus(c, st, v)
		}
		return
	}
	if s.Mode == Blind {
		packet.WriteStatus(c, packet.StatusAccepted, 0)
		return
	}
	if s.Mode == Slow {
		select {
		case <-time.After(s.Delay):
		case <-s.done: // still record what arrived
		}
	}
	op, err := s.recipient.Open(payload)
	if err != nil {
		s.fail(err)
		st, v := packet.ReplyFor(err)
		packet.WriteStatus(c, st, v)
		return
	}
	p := op.Packet
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, p.Counter)
	if s.Mode == Drift {
		packet.WriteStatus(c, packet.StatusDrift, time.Now().Unix()+3600)
		return
	}
	err = packet.CheckDrift(p.Timestamp, time.Now(), s.DriftWindow)
	if err == nil {
		err = packet.CheckCounter(p.Counter, s.stored)
	}
	if err != nil {
		st, v := packet.ReplyFor(err)
		packet.WriteStatus(c, st, v)
		return
	}
	if s.Mode == Original && op.Protocol != packet.Protocol1 {
		s.errs = append(s.errs, fmt.Errorf("original sink got protocol %v", op.Protocol))
		return
	}
	s.stored = p.Counter
	s.accepted = append(s.accepted, p.Counter)
	s.chunks = append(s.chunks, sha256.Sum256(p.Chunk[:]))
	if s.Mode == Original {
		return // closes without a reply
	}
	packet.WriteStatus(c, packet.StatusAccepted, 0)
}

func (s *Sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

// Received returns the counters of every frame that opened.
func (s *Sink) Received() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Accepted returns the counters the sink accepted.
func (s *Sink) Accepted() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

// Chunks returns the SHA-256 of every accepted chunk.
func (s *Sink) Chunks() [][32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.chunks)
}

// Stored returns the sink's stored counter.
func (s *Sink) Stored() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored
}

// Errors returns what went wrong on the sink's side (frames that did not
// open, protocol mismatches).
func (s *Sink) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// CheckUnique fails the test if any counter was received twice.
func (s *Sink) CheckUnique(t testing.TB) {
	t.Helper()
	seen := map[int64]bool{}
	for _, c := range s.Received() {
		if seen[c] {
			t.Errorf("sink %s (%s): counter %d received twice: %v", s.Addr, s.Mode, c, s.Received())
		}
		seen[c] = true
	}
}

// Entry is a targets-file entry for s, due at once (protocol 1 for an
// Original sink), with the members of more added or replacing these.
func Entry(s *Sink, more map[string]any) map[string]any {
	e := map[string]any{"Address": s.Addr, "Public": base64.StdEncoding.EncodeToString(s.Public[:]), "Counter": 0}
	if s.Mode == Original {
		e["Protocol"] = 1
	}
	for k, v := range more {
		e[k] = v
	}
	return e
}

// WriteTargets writes entries as a targets file at path (mode 0644) and
// returns its bytes.
func WriteTargets(t testing.TB, path string, entries []map[string]any) []byte {
	t.Helper()
	data, err := json.MarshalIndent(entries, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}
