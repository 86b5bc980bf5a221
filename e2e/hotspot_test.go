//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestHotspot: one source behind a 2400 bit/s link losing 5% of its
// packets each way, three sinks on the same LAN, twenty source runs with
// the real binaries. Every run must deliver to every sink, counters move by
// one per run, and each sink's pool grows by exactly one chunk per run.
func TestHotspot(t *testing.T) {
	const nSinks = 3
	runs := 20
	if v, err := strconv.Atoi(os.Getenv("E2E_HOTSPOT_RUNS")); err == nil && v > 0 {
		runs = v
	}
	// The whole suite must finish within make e2e's 16 minutes; stop
	// early (and say so) rather than be killed by the timeout.
	budget := 8 * time.Minute

	l := newLAN(t, 1+nSinks)
	l.shape(t, 0, "2400bit", 1600, 5)
	dir := t.TempDir()
	sg := newSigner(t, dir, "signer")
	targets := filepath.Join(dir, "targets.json")
	var sinks []*sinkProc
	for i := 1; i <= nSinks; i++ {
		name := fmt.Sprintf("sink%d", i)
		k := newSinkKeys(t, dir, name)
		addr := l.addrs[i] + ":4141"
		// The frames of three sinks share 300 B/s: a frame may wait in the
		// queue for 15 s and more, its length too, so allow time for it.
		cfg, pool := writeSinkConfig(t, dir, name, addr, k, sg, sinkOpts{ReadTimeout: "120s", HeaderTimeout: "60s"})
		sinks = append(sinks, startSink(t, l.hosts[i], cfg, pool, addr))
		addTarget(t, targets, addr, k, name)
	}
	seed := filepath.Join(dir, "seed")

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
		r := runSource(t, l.hosts[0], sg, targets, seed, "--timeout", "150s", "--dial-timeout", "90s")
		if r.code != 0 {
			t.Fatalf("run %d: entropy-source exit %d after %s:\n%s", run, r.code, r.dur, r.out)
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
	result(t, "%d runs x %d sinks at 2400 bit/s, 5%% loss each way: %d/%d delivered, counters +1 per run, pools +1024 B per packet; "+
		"wire %d B (tx %d, rx %d) = %.2f wire B per entropy B; %.1f s per delivery (%.1f s per run, slowest %.1f s); %d packets dropped by nft%s",
		done, nSinks, deliveries, deliveries, wire, tx1-tx0, rx1-rx0, float64(wire)/float64(deliveries*1024),
		elapsed.Seconds()/float64(deliveries), elapsed.Seconds()/float64(done), slowest.Seconds(), drops, note)
}
