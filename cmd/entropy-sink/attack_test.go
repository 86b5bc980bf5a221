package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// The attacks of the hardening issue, each against the real binary: one
// host holding every connection slot, slow and silent peers, replayed
// frames, log floods, a flooded metrics listener.

// One address holds more connections than MaxConns, idle: before, every
// other peer was told the sink was busy. Now it holds at most
// MaxConnsPerAddress and a source elsewhere is served.
func TestAttackOneAddressHoldsAll(t *testing.T) {
	dir := t.TempDir()
	s := startBinary(t, nil, "-f", attackConfig(t, dir, nil), "--metrics", testtool.FreeAddr(t))
	idle := holdIdle(t, "127.0.0.2", s.addr, 300)
	time.Sleep(500 * time.Millisecond)
	for i := range 5 {
		st, took := deliver(t, s.addr, sealFrame(t, int64(i+1)))
		if st != packet.StatusAccepted {
			t.Fatalf("frame %d, with 300 idle connections from one address: %s after %s", i+1, st, took)
		}
	}
	// The address holds its share; the rest were told busy (or, past the
	// busy responders, closed).
	held := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		var b [1]byte
		_, err := c.Read(b[:])
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			held++
		}
	}
	if held != 8 {
		t.Errorf("the address holds %d connections, want 8", held)
	}
}

// Thirty-two addresses hold eight idle connections each, every slot: a
// newcomer evicts the oldest idle connection of the address holding the
// most, instead of being refused.
func TestAttackManyAddressesFillTable(t *testing.T) {
	dir := t.TempDir()
	s := startBinary(t, nil, "-f", attackConfig(t, dir, nil), "--metrics", testtool.FreeAddr(t))
	var idle []net.Conn
	for a := range 32 {
		idle = append(idle, holdIdle(t, fmt.Sprintf("127.0.0.%d", 10+a), s.addr, 8)...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.openFiles() < 256 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	const frames = 5
	for i := range frames {
		st, took := deliver(t, s.addr, sealFrame(t, int64(i+1)))
		if st != packet.StatusAccepted {
			t.Fatalf("frame %d, with every slot held by 32 addresses: %s after %s", i+1, st, took)
		}
	}
	// The first frame took one attacker's slot, and that one was told
	// busy; the others found the slot it left (or, while it was still
	// being given back, took another).
	busy := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		var b [1]byte
		if n, _ := c.Read(b[:]); n == 1 && packet.Status(b[0]) == packet.StatusBusy {
			busy++
		}
	}
	evicted := s.rejected()["evicted"]
	if busy < 1 || busy > frames || float64(busy) != evicted {
		t.Errorf("%d idle connections were told busy, %v counted evicted; want the same, 1 to %d", busy, evicted, frames)
	}
}

// A peer has HeaderTimeout for the length, then must keep up MinRate
// bytes/s after a grace of HeaderTimeout; before, every one of them held
// its slot for the flat 60 s ReadTimeout. A 1.6 KB frame at 300 B/s, a
// hotspot, still arrives.
func TestAttackSlowPeersCut(t *testing.T) {
	dir := t.TempDir()
	s := startBinary(t, nil, "-f", attackConfig(t, dir, map[string]any{"HeaderTimeout": "1s", "MinRate": 100}))

	// How long the sink keeps c, fed by feed, before it closes it.
	held := func(feed func(c net.Conn)) time.Duration {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		go feed(c)
		c.SetReadDeadline(start.Add(10 * time.Second))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 10 * time.Second
		}
		return time.Since(start)
	}
	cases := []struct {
		name string
		feed func(c net.Conn)
		max  time.Duration
	}{
		{"silent", func(net.Conn) {}, 3 * time.Second},
		{"header only", func(c net.Conn) { c.Write([]byte{0x05, 0x67}) }, 4 * time.Second},
		{"10 bytes/s", func(c net.Conn) {
			c.Write([]byte{0x05, 0x67})
			for range 100 {
				time.Sleep(100 * time.Millisecond)
				if _, err := c.Write([]byte{1}); err != nil {
					return
				}
			}
		}, 5 * time.Second},
	}
	for _, tc := range cases {
		if d := held(tc.feed); d > tc.max {
			t.Errorf("%s: the sink held the connection %s, want at most %s", tc.name, d.Round(time.Millisecond), tc.max)
		}
	}

	// 300 B/s: 30 bytes every 100 ms.
	f := sealFrame(t, 1)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	for off := 0; off < len(f); off += 30 {
		if _, err := c.Write(f[off:min(off+30, len(f))]); err != nil {
			t.Fatalf("sending at 300 B/s, cut after %d bytes, %s: %v", off, time.Since(start), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	st, _, err := packet.ReadStatus(c)
	if err != nil || st != packet.StatusAccepted {
		t.Fatalf("a frame at 300 B/s: %v %v\n%s", st, err, s.log)
	}
}

// badSignatureFrame is sealed to the test sink with a signature that no
// key verifies.
func badSignatureFrame(t *testing.T) []byte {
	t.Helper()
	return badFrame(t, (*[32]byte)(vectors.Read(t, "sink.pub")), 256, 1)
}

// Replaying one unverifiable frame costs the sink a SHA-256, not a box
// and an RSA verification: the second and later copies are rejected as
// "replay" with the first one's reply.
func TestAttackReplayedFrame(t *testing.T) {
	dir := t.TempDir()
	s := startBinary(t, nil, "-f", attackConfig(t, dir, nil), "--metrics", testtool.FreeAddr(t))
	bad := badSignatureFrame(t)
	for i := range 20 {
		if st, _ := deliver(t, s.addr, bad); st != packet.StatusUnverified {
			t.Fatalf("copy %d: %s, want %s", i+1, st, packet.StatusUnverified)
		}
	}
	r := s.rejected()
	if r["signature"] != 1 || r["replay"] != 19 {
		t.Fatalf("rejections %v, want signature 1 and replay 19", r)
	}
	// An accepted frame is never remembered: sent again it is a counter
	// rejection.
	good := sealFrame(t, 1)
	if st, _ := deliver(t, s.addr, good); st != packet.StatusAccepted {
		t.Fatalf("good frame: %s", st)
	}
	if st, _ := deliver(t, s.addr, good); st != packet.StatusCounter {
		t.Fatalf("good frame again: %s, want %s", st, packet.StatusCounter)
	}
}

// Busy refusals and empty connections by the hundred make a few summary
// lines, not one line each; an empty connection is "empty", not a
// frame-size rejection. A frame read whole keeps its own line.
func TestAttackLogFlood(t *testing.T) {
	dir := t.TempDir()
	s := startBinary(t, nil, "-f", attackConfig(t, dir, nil), "--metrics", testtool.FreeAddr(t))
	before := strings.Count(s.log.String(), "\n")
	const empty, refused = 400, 300
	for i := range empty {
		c, err := dialFrom(fmt.Sprintf("127.0.%d.%d", 1+i/200, i%200+1), s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	holdIdle(t, "127.0.0.3", s.addr, 8+refused)
	deliver(t, s.addr, badSignatureFrame(t))
	deadline := time.Now().Add(10 * time.Second)
	for s.rejected()["empty"] < empty && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r := s.rejected()
	if r["empty"] != empty || r["frame-size"] != 0 || r["busy"] != refused {
		t.Errorf("rejections %v, want empty %d, busy %d and no frame-size", r, empty, refused)
	}
	lines := strings.Split(strings.TrimSpace(s.log.String()), "\n")[before:]
	if n := len(lines); n > 10 {
		t.Errorf("%d log lines for %d empty and %d refused connections and one frame, want a few; the first:\n%s",
			n, empty, refused, strings.Join(lines[:5], "\n"))
	}
	if got := s.lines("rejected"); len(got) != 1 || got[0]["reason"] != "signature" {
		t.Errorf("%d rejected lines, want one, for the frame (signature)", len(got))
	}
}

// Six hundred half-sent requests to the metrics listener, from 150
// addresses, under a descriptor limit that fits the sink's slots: before,
// the metrics listener took a descriptor for each and the frame listener,
// out of descriptors, could accept nothing. Now the metrics listener
// holds MetricsMaxConns and closes the rest at once, and frames are
// served.
func TestAttackMetricsFlood(t *testing.T) {
	dir := t.TempDir()
	const limit = 450 // MaxConns 256 + busy 64 + metrics 16 + the reserve 64 = 400
	s := startBinary(t, []string{"prlimit", fmt.Sprintf("--nofile=%d", limit)}, "-f", attackConfig(t, dir, nil), "--metrics", testtool.FreeAddr(t))
	var conns []net.Conn
	for i := range 600 {
		c, err := dialFrom(fmt.Sprintf("127.0.%d.%d", 10+i/200, 1+(i/4)%50), s.metrics)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n"))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 5 {
		if st, took := deliver(t, s.addr, sealFrame(t, int64(i+1))); st != packet.StatusAccepted {
			t.Fatalf("frame %d, with 600 half-sent metrics requests: %s after %s\n%s", i+1, st, took, s.log)
		}
	}
	held := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		var b [1]byte
		_, err := c.Read(b[:])
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			held++
		}
	}
	if held > sink.MetricsMaxConns {
		t.Errorf("the metrics listener holds %d connections, want at most %d", held, sink.MetricsMaxConns)
	}
	if n := s.openFiles(); n > 64 {
		t.Errorf("the sink has %d descriptors open, want at most %d metrics connections and its files", n, sink.MetricsMaxConns)
	}
}

// A sink whose connection slots need more descriptors than its
// RLIMIT_NOFILE allows refuses to start, saying so; check warns of it.
func TestDescriptorLimitRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := attackConfig(t, dir, nil)
	cmd := exec.Command("prlimit", "--nofile=200", sinkBinary(t), "-f", cfg, "--metrics", testtool.FreeAddr(t))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2:\n%s", err, out)
	}
	for _, want := range []string{"400 file descriptors", "RLIMIT_NOFILE allows 200", "LimitNOFILE="} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// check, which may run under another limit than the service, warns.
	out, err = exec.Command("prlimit", "--nofile=200", sinkBinary(t), "check", "-f", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "warning: the sink may hold 384 file descriptors") || !strings.Contains(string(out), "would refuse to start") {
		t.Errorf("check under a limit of 200: %v\n%s", err, out)
	}
}
