//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHotspot: one source behind a 2400 bit/s link losing 5% of its
// packets each way, three sinks on the same LAN, the last over HTTPS,
// eight source runs with the real binaries. Every run must deliver to
// every sink, counters move by one per run, and each sink's pool grows by
// exactly one chunk per run. The bytes to and from each sink are counted:
// per delivery over TCP, and over HTTPS with the first run's full
// handshake and the later runs' resumed ones.
func TestHotspot(t *testing.T) {
	const nSinks = 3
	// Eight runs: a run takes about 21 s, the time its 6-7 KB take at
	// 300 B/s. Each starts without the round-trip times of the last
	// (lan.forgetTCP), as a board's runs, hours apart, do.
	runs := 8
	if v, err := strconv.Atoi(os.Getenv("E2E_HOTSPOT_RUNS")); err == nil && v > 0 {
		runs = v
	}
	// The whole suite must finish within make e2e's 14 minutes; stop
	// early (and say so) rather than be killed by the timeout.
	budget := 5 * time.Minute

	l := newLAN(t, 1+nSinks)
	l.shape(t, 0, "2400bit", 1600, 5)
	dir := t.TempDir()
	sg := newSigner(t, dir, "signer")
	pki := newTLSPKI(t, dir)
	targets := filepath.Join(dir, "targets.json")
	var sinks []*sinkProc
	for i := 1; i <= nSinks; i++ {
		name := fmt.Sprintf("sink%d", i)
		k := newSinkKeys(t, dir, name)
		addr := l.addrs[i] + ":4141"
		// The frames of three sinks share 300 B/s: a frame may wait in the
		// queue for 20 s, and a lost one for TCP's retransmission timeout,
		// which doubles with each loss in a row. The sinks wait for a
		// frame about as long as the source waits for its reply.
		o := sinkOpts{ReadTimeout: "240s", HeaderTimeout: "120s"}
		target := addr
		if i == nSinks {
			o.HTTPS = pki.sinkHTTPS(t, name, l.addrs[i], 8443)
			target = "https://" + o.HTTPS.Address
		}
		cfg, pool := writeSinkConfig(t, dir, name, addr, k, sg, o)
		sinks = append(sinks, startSink(t, l.hosts[i], cfg, pool, addr))
		addTarget(t, targets, target, k, name)
	}
	l.countPeers(t, 0, l.addrs[1:])
	seed := filepath.Join(dir, "seed")
	// Bytes per delivery: TCP sinks over all runs; the HTTPS sink in the
	// first run (full handshake) and in the rest (resumed).
	httpsAddr, tcpSinks := l.addrs[nSinks], nSinks-1
	var tcpBytes, httpsFirst, httpsRest int64
	resumed := 0

	tx0, rx0 := l.ifaceBytes(t, 0)
	start := time.Now()
	var slowest time.Duration
	done := 0
	for run := 1; run <= runs; run++ {
		if run > 1 && time.Since(start) > budget {
			t.Logf("time budget of %s spent after %d runs: stopping early", budget, done)
			break
		}
		makeDue(t, targets)
		l.forgetTCP(t)
		before := l.peerBytes(t, 0)
		// A lost segment waits for TCP's retransmission timeout, which
		// the link's queue (up to 20 s) and the 5 s a full-size packet
		// takes make long, and which doubles with each loss in a row:
		// timeouts well above the minute a run can take.
		r := runSource(t, l.hosts[0], sg, targets, seed, append([]string{"--timeout", "240s", "--dial-timeout", "60s"}, pki.sourceFlags()...)...)
		if r.code != 0 {
			for _, s := range sinks {
				t.Logf("sink %s log:\n%s", s.addr, tail(s.log(), 2000))
			}
			t.Fatalf("run %d: entropy-source exit %d after %s:\n%s", run, r.code, r.dur, r.out)
		}
		after := l.peerBytes(t, 0)
		for a, n := range after {
			switch {
			case a != httpsAddr:
				tcpBytes += n - before[a]
			case run == 1:
				httpsFirst += n - before[a]
			default:
				httpsRest += n - before[a]
			}
		}
		if strings.Contains(r.out, "TLS resumed") {
			resumed++
		}
		slowest = max(slowest, r.dur)
		ts, err := readTargets(targets)
		if err != nil {
			t.Fatal(err)
		}
		for i, tg := range ts {
			if tg.Counter != int64(run) {
				t.Fatalf("run %d: target %s counter %d, want %d", run, tg.Name, tg.Counter, run)
			}
			s := sinks[i]
			c, err := sinkCounters(s.cfg)
			if err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			if c["default"] != int64(run) {
				t.Fatalf("run %d: sink %s stored counter %d, want %d", run, tg.Name, c["default"], run)
			}
			if got := fileSize(s.pool); got != int64(run)*1024 {
				t.Fatalf("run %d: sink %s pool is %d bytes, want %d", run, tg.Name, got, run*1024)
			}
		}
		done = run
		t.Logf("run %d: %s", run, r.dur.Round(time.Millisecond))
	}
	elapsed := time.Since(start)
	tx1, rx1 := l.ifaceBytes(t, 0)
	for _, s := range sinks {
		if code := s.term(); code != 0 {
			t.Errorf("sink %s: exit %d on SIGTERM", s.addr, code)
		}
		for _, f := range s.logLines("rejected") {
			t.Logf("sink %s rejected: %v", s.addr, f)
		}
	}
	deliveries := done * nSinks
	wire := (tx1 - tx0) + (rx1 - rx0)
	drops := l.dropped(t, 0)
	note := ""
	if done < runs {
		note = fmt.Sprintf(" (stopped early: time budget, %d of %d runs)", done, runs)
	}
	if done > 1 && resumed < (done-1)/2 {
		t.Errorf("the HTTPS sink resumed in %d of %d later runs", resumed, done-1)
	}
	perHTTPSRest := int64(0)
	if done > 1 {
		perHTTPSRest = httpsRest / int64(done-1)
	}
	result(t, "%d runs x %d sinks (1 HTTPS) at 2400 bit/s, 5%% loss each way: %d/%d delivered, counters +1 per run, pools +1024 B per packet; "+
		"wire %d B (tx %d, rx %d) = %.2f wire B per entropy B; %.1f s per delivery (%.1f s per run, slowest %.1f s); %d packets dropped by nft; "+
		"IP bytes per delivery: TCP %d, HTTPS %d (run 1, full handshake), %d (later runs, %d of %d resumed)%s",
		done, nSinks, deliveries, deliveries, wire, tx1-tx0, rx1-rx0, float64(wire)/float64(deliveries*1024),
		elapsed.Seconds()/float64(deliveries), elapsed.Seconds()/float64(done), slowest.Seconds(), drops,
		tcpBytes/int64(done*tcpSinks), httpsFirst, perHTTPSRest, resumed, done-1, note)
}
