package sink

import (
	"crypto/sha256"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// fakeConn is a connection from a given address, for the slot table.
type fakeConn struct {
	net.Conn
	from *net.TCPAddr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.from }

func connFrom(ip string) net.Conn {
	return fakeConn{from: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1}}
}

// The victim is the oldest evictable connection of the address holding
// the most slots; connections at work are never chosen; an address at
// its cap, or a table of connections at work, refuses the newcomer.
func TestConnTableEviction(t *testing.T) {
	tb := newConnTable(6, 3)
	at := time.Unix(1000, 0)
	admit := func(ip string) (*slot, *slot) {
		at = at.Add(time.Second)
		return tb.admit(connFrom(ip), at)
	}
	a1, _ := admit("192.0.2.1")
	a2, _ := admit("192.0.2.1")
	b1, _ := admit("2001:db8::1")
	b2, _ := admit("2001:db8::2") // the same /64
	b3, _ := admit("2001:db8::3")
	if sl, _ := admit("2001:db8::4"); sl != nil {
		t.Fatal("a fourth connection from one /64 was admitted past its cap of 3")
	}
	c1, v := admit("198.51.100.1")
	if c1 == nil || v != nil {
		t.Fatal("the sixth slot")
	}
	// Full: the /64 holds the most (3); its oldest goes.
	d1, v := admit("203.0.113.1")
	if d1 == nil || v != b1 || !b1.evicted.Load() {
		t.Fatalf("victim %v, want the /64's oldest", v)
	}
	// Now 192.0.2.1 and the /64 hold 2 each: the older evictable one
	// goes, a2 (a1, older, is at work), not b2.
	tb.enter(a1, slotWorking)
	e1, v := admit("203.0.113.2")
	if v != a2 {
		t.Fatalf("victim %v, want a2", v)
	}
	// A lingering connection is evictable again.
	for _, sl := range []*slot{b2, b3, c1, d1, e1} {
		tb.enter(sl, slotWorking)
	}
	tb.enter(b3, slotLingering)
	_, v = admit("203.0.113.3")
	if v != b3 {
		t.Fatalf("victim %v, want the lingering b3", v)
	}
	// A victim's release gives nothing back twice; an evicted slot cannot
	// go to work.
	tb.release(b1)
	if tb.n != 6 || tb.enter(b1, slotWorking) {
		t.Fatalf("after an evicted connection ended: %d slots taken, want 6", tb.n)
	}
	// All at work but the newest two: they go, then nothing is left.
	for range 2 {
		if _, v := admit("203.0.113.9"); v == nil {
			t.Fatal("no victim with evictable connections left")
		}
	}
	for _, sls := range tb.byAddr {
		for _, sl := range sls {
			tb.enter(sl, slotWorking)
		}
	}
	if sl, v := admit("203.0.113.10"); sl != nil || v != nil {
		t.Fatal("admitted with every connection at work")
	}
	tb.release(a1)
	if sl, v := admit("203.0.113.10"); sl == nil || v != nil {
		t.Fatal("not admitted into a slot given back")
	}
}

// The read deadline: HeaderTimeout for the length, then the same grace
// and MinRate; never past ReadTimeout.
func TestFrameReaderDeadline(t *testing.T) {
	k := &compiled{headerTimeout: 10 * time.Second, minRate: 100, readTimeout: 60 * time.Second}
	start := time.Unix(1000, 0)
	r := &frameReader{k: k, start: start}
	for _, tc := range []struct {
		n        int
		headerAt time.Duration
		want     time.Duration // from start
	}{
		{0, 0, 10 * time.Second},
		{1, 0, 10 * time.Second},
		{2, 3 * time.Second, 3*time.Second + 10*time.Second + 10*time.Millisecond},       // the first payload byte
		{1002, 3 * time.Second, 3*time.Second + 10*time.Second + 10010*time.Millisecond}, // 1000 bytes in
		{5000, 3 * time.Second, 60 * time.Second},                                        // ReadTimeout
	} {
		r.n, r.headerAt = tc.n, start.Add(tc.headerAt)
		if got := r.deadline().Sub(start); got != tc.want {
			t.Errorf("%d bytes read: deadline %s after accept, want %s", tc.n, got, tc.want)
		}
	}
	// A 1.6 KB frame at 300 B/s is always ahead of its deadline.
	for got := 0; got < 1637; got += 30 {
		r.n, r.headerAt = packet.HeaderSize+got, start
		if took := time.Duration(got) * time.Second / 300; !start.Add(took).Before(r.deadline()) {
			t.Fatalf("at 300 B/s, byte %d arrives after its deadline", got)
		}
	}
}

// The replay cache forgets its oldest digest first and holds no more than
// its size.
func TestReplayCacheFIFO(t *testing.T) {
	c := newReplayCache(3)
	d := func(i byte) [sha256.Size]byte { return sha256.Sum256([]byte{i}) }
	for i := range byte(5) {
		c.add(d(i), packet.ErrSignature)
		c.add(d(i), packet.ErrSignature) // again: no second place
	}
	for i, want := range []bool{false, false, true, true, true} {
		if got := c.lookup(d(byte(i))) != nil; got != want {
			t.Errorf("digest %d remembered: %v, want %v", i, got, want)
		}
	}
	if len(c.seen) != 3 || len(c.ring) != 3 {
		t.Fatalf("%d digests in the map, %d in the ring, want 3", len(c.seen), len(c.ring))
	}
}

// A burst of one reason is one line at once and one at the end of the
// period, with the count and the top addresses; other reasons have their
// own lines; close writes what is pending.
func TestLogSummary(t *testing.T) {
	var logs syncBuffer
	l := newLogSummary(slog.New(slog.NewTextHandler(&logs, nil)), 200*time.Millisecond)
	peer := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 9} }
	for i := range 1000 {
		ip := "192.0.2.7"
		if i%10 == 0 {
			ip = "198.51.100.1"
		}
		l.add("busy", peer(ip))
	}
	l.add("timeout", peer("2001:db8::1"))
	l.add("empty", peer("192.0.2.9")) // debug: below the logger's level
	lines := func() []string { return strings.Split(strings.TrimSpace(logs.String()), "\n") }
	if got := lines(); len(got) != 2 || !strings.Contains(got[0], "reason=busy count=1 ") {
		t.Fatalf("at once: %q, want a busy and a timeout line", got)
	}
	waitFor(t, func() bool { return len(lines()) == 3 })
	last := lines()[2]
	for _, want := range []string{`msg="rejected connections"`, "reason=busy", "count=999", `top="192.0.2.7 (900), 198.51.100.1 (99)"`} {
		if !strings.Contains(last, want) {
			t.Errorf("end of the period: %s lacks %s", last, want)
		}
	}
	l.add("timeout", peer("2001:db8::2"))
	l.close()
	if got := lines(); len(got) != 4 || !strings.Contains(got[3], "2001:db8::/64 (1)") {
		t.Fatalf("after close: %q", got)
	}
	l.add("busy", peer("192.0.2.7"))
	time.Sleep(300 * time.Millisecond)
	if n := len(lines()); n != 4 {
		t.Fatalf("%d lines after close, want 4", n)
	}
}

// A connection that delivered its frame is never evicted: with every slot
// held by such connections (their counters waiting for a slow state
// write), a newcomer is told the sink is busy; an idle one is evicted
// (told busy) to make room.
func TestEvictionSparesDelivered(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, func(c *Config) { c.MaxConns = 2 })
	release := make(chan struct{})
	writing := make(chan struct{}, 1) // a state write has begun
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	s, addr := start(t, cfg, Options{wrapWrite: onWrite(func() error {
		select {
		case writing <- struct{}{}:
		default:
		}
		<-release
		return nil
	})})
	k := vectorKeys(t)

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitFor(t, func() bool { return s.open.Load() == 1 })
	results := make(chan packet.Status, 2)
	for i, from := range []string{"127.0.0.2", "127.0.0.3"} {
		f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, int64(i+1), epoch)
		go func() {
			st, _, err := trySendFrom(from, addr, f)
			if err != nil {
				t.Error(err)
			}
			results <- st
		}()
		if i == 0 {
			// The first waits for its counter to be stored (reserved
			// before the second's, which would otherwise overtake it);
			// the second takes the idle one's slot.
			select {
			case <-writing:
			case <-time.After(10 * time.Second):
				t.Fatal("the first frame's state write did not begin")
			}
		}
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if st, _, err := packet.ReadStatus(idle); err != nil || st != packet.StatusBusy {
		t.Fatalf("the idle connection: %s %v, want evicted with busy", st, err)
	}
	waitFor(t, func() bool {
		s.slots.mu.Lock()
		defer s.slots.mu.Unlock()
		working := 0
		for _, sls := range s.slots.byAddr {
			for _, sl := range sls {
				if sl.state == slotWorking {
					working++
				}
			}
		}
		return working == 2
	})
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 3, epoch)
	if st, _ := sendFrom(t, "127.0.0.4", addr, f); st != packet.StatusBusy {
		t.Fatalf("newcomer with every slot at work: %s, want busy", st)
	}
	once.Do(func() { close(release) })
	for range 2 {
		if st := <-results; st != packet.StatusAccepted {
			t.Errorf("delivered frame: %s", st)
		}
	}
}
