//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// TestAttackHolders: attackers on several loopback addresses hold every
// connection slot of a sink with the shipped limits (MaxConns 256,
// MaxConnsPerAddress 8, HeaderTimeout 10 s), while real source runs from
// 127.0.0.1 deliver to it. One address keeps 400 idle connections open,
// thirty-two addresses keep eight each, and every attacker opens a new
// connection as soon as the sink drops one (a busy refusal, an eviction, a
// header timeout). Every run must deliver its packet within 10 s, the
// sink's descriptors must stay bounded and its log must sum the refusals
// up; its memory is measured and printed.
func TestAttackHolders(t *testing.T) {
	const (
		runs       = 15
		heavyConns = 400 // from one address, 127.0.2.1
		holders    = 32  // addresses 127.0.3.1 to .32
		perHolder  = 8   // the sink's MaxConnsPerAddress
		maxConns   = 256 // the sink's MaxConns
		maxRun     = 10 * time.Second
		minAttack  = 40 * time.Second // four periods of the log summary
		// The slots, the connections being told busy (at most 64 at once,
		// the sink's busyResponders), the dozen of an idle sink (listener,
		// pool, state, log, epoll) and the connections refused or evicted
		// that are on their way to being closed.
		maxFDs = maxConns + 64 + 40
	)
	dir := t.TempDir()
	sg := newSigner(t, dir, "signer")
	k := newSinkKeys(t, dir, "sink")
	addr := testtool.FreeAddr(t)
	cfg, pool := writeSinkConfig(t, dir, "sink", addr, k, sg, sinkOpts{})
	sp := startSink(t, "", cfg, pool, addr)
	pid := sp.pid()
	targets := filepath.Join(dir, "targets.json")
	addTarget(t, targets, addr, k, "sink")
	seed := filepath.Join(dir, "seed")

	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			return -1
		}
		return len(ents)
	}
	idleFDs := fds()

	var (
		stop              = make(chan struct{})
		stopOnce          sync.Once
		wg                sync.WaitGroup
		opened, dialFails atomic.Int64
	)
	// stopAttack ends the attackers and the sampler, and waits for them.
	stopAttack := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer stopAttack()
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	// hold keeps one connection from the address from open and sends
	// nothing on it; when the sink drops it (whatever it replied first),
	// it connects again at once.
	hold := func(from net.IP) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: from}}
		buf := make([]byte, 16)
		for !stopped() {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				dialFails.Add(1)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			opened.Add(1)
			for {
				// A deadline only to notice the end of the attack.
				c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				_, err := c.Read(buf)
				var ne net.Error
				if err == nil || errors.As(err, &ne) && ne.Timeout() && !stopped() {
					continue
				}
				break
			}
			c.Close()
		}
	}
	attackStart := time.Now()
	for range heavyConns {
		wg.Go(func() { hold(net.IPv4(127, 0, 2, 1)) })
	}
	for a := range holders {
		for range perHolder {
			wg.Go(func() { hold(net.IPv4(127, 0, 3, byte(1+a))) })
		}
	}

	// The sink's memory and descriptors, sampled throughout.
	var maxFDSeen, maxRSS atomic.Int64
	wg.Go(func() {
		for !stopped() {
			maxFDSeen.Store(max(maxFDSeen.Load(), int64(fds())))
			maxRSS.Store(max(maxRSS.Load(), procStatus(pid, "VmRSS")))
			time.Sleep(50 * time.Millisecond)
		}
	})

	// Every slot held: the sink has a descriptor for each, besides those
	// it had idle.
	deadline := time.Now().Add(15 * time.Second)
	for fds()-idleFDs < maxConns && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	heldFDs, heldHWM := fds(), procStatus(pid, "VmHWM")
	if heldFDs-idleFDs < maxConns {
		t.Fatalf("the sink has %d descriptors after 15 s of attack (%d idle), want %d more", heldFDs, idleFDs, maxConns)
	}
	start := time.Now()
	linesBefore := strings.Count(sp.log(), "\n")

	var slowest, total time.Duration
	for run := 1; run <= runs; run++ {
		makeDue(t, targets)
		r := runSource(t, "", sg, targets, seed)
		if r.code != 0 {
			t.Fatalf("run %d under attack: entropy-source exit %d after %s:\n%s", run, r.code, r.dur, r.out)
		}
		if r.dur > maxRun {
			t.Errorf("run %d under attack took %s, want at most %s", run, r.dur.Round(time.Millisecond), maxRun)
		}
		slowest, total = max(slowest, r.dur), total+r.dur
		ts, err := readTargets(targets)
		if err != nil {
			t.Fatal(err)
		}
		c, err := sinkCounters(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ts[0].Counter != int64(run) || c["default"] != int64(run) {
			t.Fatalf("run %d: target counter %d, sink stored %d, want %d both", run, ts[0].Counter, c["default"], run)
		}
		if got := fileSize(pool); got != int64(run)*1024 {
			t.Fatalf("run %d: pool is %d bytes, want %d", run, got, run*1024)
		}
		if !sp.running() {
			t.Fatalf("the sink died after run %d:\n%s", run, tail(sp.log(), 3000))
		}
	}
	if d := time.Since(start); d < minAttack {
		time.Sleep(minAttack - d)
	}
	window := time.Since(start)
	lines := strings.Count(sp.log(), "\n") - linesBefore
	hwm, rss, nowFDs := procStatus(pid, "VmHWM"), procStatus(pid, "VmRSS"), fds()
	anon, file := procStatus(pid, "RssAnon"), procStatus(pid, "RssFile")
	stopAttack()
	attack := time.Since(attackStart)
	if code := sp.term(); code != 0 {
		t.Errorf("entropy-sink exit %d on SIGTERM, want 0", code)
	}

	// Refusals by reason, from the log: the summary lines' counts (the
	// last period's is written at shutdown) and the frames' own lines.
	reasons := map[string]int{}
	summaries := map[string]int{}
	for _, f := range sp.logLines("rejected connections") {
		n, _ := strconv.Atoi(f["count"])
		reasons[f["reason"]] += n
		summaries[f["reason"]]++
	}
	for _, f := range sp.logLines("rejected") {
		reasons[f["reason"]]++
	}
	if acc := sp.accepted()["default"]; len(acc) != runs {
		t.Errorf("the sink logged %d accepted packets, want %d", len(acc), runs)
	}
	if m := maxFDSeen.Load(); m > maxFDs {
		t.Errorf("the sink had %d descriptors open, want at most %d", m, maxFDs)
	}
	// One line per accepted packet, and at most one per reason every
	// 10 s (plus the one written at once when a period starts).
	perReason := int(window/(10*time.Second)) + 2
	for why, n := range summaries {
		if n > perReason+1 { // +1: the line written at shutdown
			t.Errorf("%d summary lines for %q in %.0f s, want at most %d", n, why, window.Seconds(), perReason+1)
		}
	}
	if want := runs + perReason*len(summaries); lines > want {
		t.Errorf("the sink wrote %d log lines in %.0f s under attack, want at most %d", lines, window.Seconds(), want)
	}
	perMin := float64(lines) * float64(time.Minute) / float64(window)
	result(t, "%d idle connections from one address and %dx%d from %d more, re-opened as dropped (%d connections in %.0f s, %d dials failed): "+
		"%d/%d source runs from 127.0.0.1 delivered (counters +1, pool +1024 B each), %.0f ms per run, slowest %.1f s (at most %s); "+
		"sink with every slot held: VmRSS %d kB (max %d), VmHWM %d kB (%d when all were first held; now RssAnon %d kB, RssFile %d kB), %d descriptors (%d idle, %d at start of runs, max %d); "+
		"refusals %v; %d log lines in %.0f s (%.0f per minute)",
		heavyConns, holders, perHolder, holders, opened.Load(), attack.Seconds(), dialFails.Load(),
		runs, runs, float64(total.Milliseconds())/runs, slowest.Seconds(), maxRun,
		rss, maxRSS.Load(), hwm, heldHWM, anon, file, nowFDs, idleFDs, heldFDs, maxFDSeen.Load(), reasons, lines, window.Seconds(), perMin)
}
