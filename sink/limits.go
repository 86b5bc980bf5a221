package sink

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// Connection slots of the frame listener. A peer gets a slot when it
// connects and keeps it until its connection ends; there are MaxConns
// slots, and one address (IPv4 address or IPv6 /64, as addrKey groups
// them) holds at most MaxConnsPerAddress. A newcomer from an address at
// its cap is told the sink is busy. A newcomer finding every slot taken
// evicts a connection that has not delivered a whole frame: the oldest
// such connection of the address holding the most slots. One host can
// then hold no more than its share, and a crowd of hosts holding a share
// each cannot keep a newcomer out: each newcomer costs one of them a slot.
// Connections that delivered their frame and wait for their verdict are
// never evicted; one that is only lingering after its reply is.
//
// Deadlines: a peer has HeaderTimeout from connecting to send the frame's
// two-byte length. After it, the payload gets the same grace, and then
// must keep up MinRate bytes per second: by t after the header, at least
// (t - HeaderTimeout) * MinRate bytes of it must have arrived. Nothing
// takes longer than ReadTimeout from connecting. A 1.6 KB frame over a
// 300 B/s hotspot arrives in about 6 s, within the grace alone; a peer
// that connects and sends nothing holds a slot for HeaderTimeout, one that
// sends a length and then nothing for twice that.

// slot states: a connection reads its frame (evictable), works on it
// (check, store, feed, reply: not evictable), then lingers (evictable).
const (
	slotReading = iota
	slotWorking
	slotLingering
)

// slot is one connection's place in the table.
type slot struct {
	c       net.Conn
	key     netip.Prefix
	since   time.Time
	state   int         // guarded by the table's mu
	evicted atomic.Bool // set once, under the table's mu; read by the connection
}

// connTable is the frame listener's slot table.
type connTable struct {
	max, perAddr int

	mu     sync.Mutex
	n      int
	byAddr map[netip.Prefix][]*slot // in the order they connected
}

func newConnTable(max, perAddr int) *connTable {
	return &connTable{max: max, perAddr: min(perAddr, max), byAddr: map[netip.Prefix][]*slot{}}
}

// admit gives c a slot, evicting another connection when every slot is
// taken (the caller wakes it with evict). It returns no slot when c's
// address is at its cap, or when no connection can be evicted.
func (t *connTable) admit(c net.Conn, now time.Time) (sl, victim *slot) {
	key := addrKey(c.RemoteAddr())
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byAddr[key]) >= t.perAddr {
		return nil, nil
	}
	if t.n >= t.max {
		if victim = t.victim(); victim == nil {
			return nil, nil
		}
		victim.evicted.Store(true)
		t.remove(victim)
	}
	sl = &slot{c: c, key: key, since: now}
	t.byAddr[key] = append(t.byAddr[key], sl)
	t.n++
	return sl, victim
}

// victim picks the connection to evict: of the addresses holding an
// evictable connection, the one holding the most slots (the one whose
// evictable connection is oldest, among equals), and its oldest evictable
// connection. Linear in the slots; it runs only when all are taken.
func (t *connTable) victim() *slot {
	var best *slot
	bestN := 0
	for _, slots := range t.byAddr {
		for _, s := range slots {
			if s.state == slotWorking {
				continue
			}
			if n := len(slots); n > bestN || n == bestN && s.since.Before(best.since) {
				best, bestN = s, n
			}
			break // the address's oldest evictable one
		}
	}
	return best
}

func (t *connTable) remove(sl *slot) {
	slots := t.byAddr[sl.key]
	for i, s := range slots {
		if s == sl {
			slots = append(slots[:i], slots[i+1:]...)
			t.n--
			break
		}
	}
	if len(slots) == 0 {
		delete(t.byAddr, sl.key)
	} else {
		t.byAddr[sl.key] = slots
	}
}

// release gives sl's slot back, unless it was evicted (its slot is gone).
func (t *connTable) release(sl *slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !sl.evicted.Load() {
		t.remove(sl)
	}
}

// enter moves sl to state; it fails when sl was evicted first.
func (t *connTable) enter(sl *slot, state int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sl.evicted.Load() {
		return false
	}
	sl.state = state
	return true
}

// evict wakes an evicted connection out of its read. Whoever reads sets a
// deadline and then checks evicted, so either it sees the flag or this
// deadline comes after its own.
func (sl *slot) evict() { sl.c.SetReadDeadline(time.Unix(1, 0)) }

// linger is the package's linger for a connection in the table: an
// eviction cuts it short.
func (t *connTable) linger(sl *slot) {
	if !t.enter(sl, slotLingering) {
		return
	}
	if cw, ok := sl.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	sl.c.SetReadDeadline(time.Now().Add(lingerTimeout))
	if sl.evicted.Load() {
		return
	}
	io.CopyN(io.Discard, sl.c, lingerBytes)
}

// errEvicted: the connection's slot was given to a newcomer (reply 0x06).
var errEvicted = errors.New("sink: connection evicted to make room")

// errEmpty: the peer closed the connection before sending a byte (a port
// scan, a TCP health check). No reply.
var errEmpty = errors.New("sink: connection closed before any byte")

// frameReader reads one frame from a slot's connection, moving the read
// deadline as the header and then the payload arrive (see the top of this
// file).
type frameReader struct {
	sl       *slot
	k        *compiled
	start    time.Time
	headerAt time.Time
	n        int       // bytes read
	set      time.Time // the deadline last set
	whole    bool      // the frame was read whole
}

func (r *frameReader) deadline() time.Time {
	d := r.start.Add(r.k.headerTimeout)
	if r.n >= packet.HeaderSize {
		payload := time.Duration(r.n-packet.HeaderSize+1) * time.Second / time.Duration(r.k.minRate)
		d = r.headerAt.Add(r.k.headerTimeout + payload)
	}
	if end := r.start.Add(r.k.readTimeout); end.Before(d) {
		d = end
	}
	return d
}

func (r *frameReader) Read(p []byte) (int, error) {
	if d := r.deadline(); !d.Equal(r.set) {
		r.sl.c.SetReadDeadline(d)
		r.set = d
	}
	if r.sl.evicted.Load() {
		return 0, errEvicted
	}
	n, err := r.sl.c.Read(p)
	if r.n < packet.HeaderSize && r.n+n >= packet.HeaderSize {
		r.headerAt = time.Now()
	}
	r.n += n
	if err != nil && r.sl.evicted.Load() {
		err = errEvicted
	}
	return n, err
}

// readFrame reads the slot's frame and moves it out of reach of eviction.
func (s *Server) readFrame(r *frameReader) ([]byte, error) {
	payload, err := packet.ReadFrame(r, r.k.maxFrame)
	switch {
	case errors.Is(err, errEvicted):
		return nil, errEvicted
	case err != nil && r.n == 0 && errors.Is(err, io.EOF):
		return nil, errEmpty
	case err != nil:
		return nil, err
	case !s.slots.enter(r.sl, slotWorking):
		return nil, errEvicted
	}
	r.whole = true
	return payload, nil
}

// initLimits sets up what bounds the sink's connections and the cost of
// bad frames: the slot table, the replay cache, the hint limiter and the
// log summary.
func (s *Server) initLimits(k *compiled) error {
	s.slots = newConnTable(k.maxConns, k.maxConnsPerAddr)
	if k.replayCache > 0 {
		s.rejects = newReplayCache(k.replayCache)
	}
	s.hints = newHintLimiter()
	s.summary = newLogSummary(s.log, summaryEvery)
	return nil
}

// sayBusy tells an evicted connection the sink is busy, within the bound
// of goroutines that reply busy; beyond it the connection is just closed.
func (s *Server) sayBusy(c net.Conn) {
	select {
	case s.busySem <- struct{}{}:
	default:
		return
	}
	defer func() { <-s.busySem }()
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if packet.WriteStatus(c, packet.StatusBusy, 0) == nil {
		linger(c)
	}
}

// compileLimits checks and applies the connection settings of c.
func (c *Config) compileLimits(k *compiled) error {
	if c.MaxConnsPerAddress < 0 {
		return fieldErr("MaxConnsPerAddress", "%d is negative", c.MaxConnsPerAddress)
	}
	k.maxConnsPerAddr = cmpDefault(c.MaxConnsPerAddress, defaultMaxConnsPerAddress)
	if c.HeaderTimeout < 0 {
		return fieldErr("HeaderTimeout", "%s is negative", time.Duration(c.HeaderTimeout))
	}
	k.headerTimeout = cmpDefault(time.Duration(c.HeaderTimeout), defaultHeaderTimeout)
	if c.MinRate < 0 {
		return fieldErr("MinRate", "%d is negative", c.MinRate)
	}
	k.minRate = cmpDefault(c.MinRate, defaultMinRate)
	return c.compileReplay(k)
}
