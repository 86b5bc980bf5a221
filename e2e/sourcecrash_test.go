//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// TestSourceCrash: entropy-source runs against three sinks on loopback are
// killed with SIGKILL at random moments. The targets file must always
// parse, its counters never go backwards and never fall behind a sink's,
// no sink ever sees a counter twice (a 0x02 would mean one was reused), and
// the next clean run delivers everywhere.
func TestSourceCrash(t *testing.T) {
	const kills = 120
	dir := t.TempDir()
	sg := newSigner(t, dir, "signer")
	targets := filepath.Join(dir, "targets.json")
	seed := filepath.Join(dir, "seed")
	var sinks []*sinkProc
	for i := range 3 {
		name := fmt.Sprintf("sink%d", i)
		k := newSinkKeys(t, dir, name)
		addr := testtool.FreeAddr(t)
		cfg, pool := writeSinkConfig(t, dir, name, addr, k, sg, sinkOpts{ReadTimeout: "2s"})
		sinks = append(sinks, startSink(t, "", cfg, pool, addr))
		addTarget(t, targets, addr, k, name)
	}

	// A clean run first: it sets the scale of the random kill moments.
	r := runSource(t, "", sg, targets, seed)
	if r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, r.out)
	}
	window := r.dur

	last := make([]int64, len(sinks))
	check := func(when string) {
		t.Helper()
		ts, err := readTargets(targets)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if len(ts) != len(sinks) {
			t.Fatalf("%s: targets file has %d entries, want %d", when, len(ts), len(sinks))
		}
		for i, tg := range ts {
			if tg.Counter < last[i] {
				t.Fatalf("%s: target %s counter went back from %d to %d", when, tg.Name, last[i], tg.Counter)
			}
			last[i] = tg.Counter
			c, err := sinkCounters(sinks[i].cfg)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if c["default"] > tg.Counter {
				t.Fatalf("%s: sink %s stored counter %d is above the targets file's %d: a counter was sent before it was stored",
					when, tg.Name, c["default"], tg.Counter)
			}
		}
	}

	completed, exits := 0, map[int]int{}
	start := time.Now()
	for i := range kills {
		check(fmt.Sprintf("before run %d", i+1))
		makeDue(t, targets)
		cmd := exec.Command(bin("entropy-source"), "-k", sg.Key, "-t", targets, "-s", seed, "--timeout", "3s")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() {
			completed++
			exits[ws.ExitStatus()]++
			if ws.ExitStatus() != 0 {
				t.Logf("run %d finished before the kill with exit %d:\n%s", i+1, ws.ExitStatus(), out.String())
			}
		}
	}
	check("after the last kill")
	elapsed := time.Since(start)

	// Let the sinks finish what the killed runs left half-sent.
	time.Sleep(500 * time.Millisecond)
	makeDue(t, targets)
	r = runSource(t, "", sg, targets, seed)
	if r.code != 0 {
		t.Fatalf("clean run after the kills: exit %d\n%s", r.code, r.out)
	}
	if n := strings.Count(r.out, "delivered"); n != len(sinks) {
		t.Errorf("clean run after the kills delivered %d of %d:\n%s", n, len(sinks), r.out)
	}
	check("after the clean run")

	totalAccepted, skipped, rejected := 0, int64(0), map[string]int{}
	ts, _ := readTargets(targets)
	for i, s := range sinks {
		if code := s.term(); code != 0 {
			t.Errorf("sink %d: exit %d on SIGTERM", i, code)
		}
		acc := s.accepted()["default"]
		seen := map[int64]bool{}
		for _, c := range acc {
			if seen[c] {
				t.Errorf("sink %d accepted counter %d twice", i, c)
			}
			seen[c] = true
		}
		for _, f := range s.logLines("rejected") {
			rejected[f["reason"]]++
			if f["reason"] == "counter" {
				t.Errorf("sink %d saw a reused counter: %v", i, f)
			}
		}
		if got := fileSize(s.pool); got != int64(len(acc))*1024 {
			t.Errorf("sink %d: pool %d bytes for %d accepted packets", i, got, len(acc))
		}
		c, _ := sinkCounters(s.cfg)
		if c["default"] != ts[i].Counter {
			t.Errorf("sink %d stored counter %d after the clean run, targets file says %d", i, c["default"], ts[i].Counter)
		}
		totalAccepted += len(acc)
		skipped += ts[i].Counter - int64(len(acc))
	}
	result(t, "%d runs SIGKILLed at random in the first %s (%d finished first, exits %v) in %.0f s: targets file always parsed, counters never went back nor behind a sink's; "+
		"sinks accepted %d packets, each counter once, %d counters skipped by kills, 0 reused (rejections by reason: %v); the clean run after delivered %d/%d",
		kills, window.Round(time.Millisecond), completed, exits, elapsed.Seconds(), totalAccepted, skipped, rejected, strings.Count(r.out, "delivered"), len(sinks))
}
