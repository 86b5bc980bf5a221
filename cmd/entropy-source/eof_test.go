package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/source"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestBinaryNoReplyProtocol2: the real binary against an original sink
// with a protocol 2 target. The sink refuses protocol 2 and closes
// without a reply, so the run fails (exit 1) and says what to do; marked
// protocol 1 as the error says, the target is delivered (exit 0) with a
// new counter.
func TestBinaryNoReplyProtocol2(t *testing.T) {
	bin := sourceBinary(t)
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.Original, pub)
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(s, map[string]any{"Name": "old", "Protocol": 2})})
	const want = `no status reply: if this sink runs the original entropyshare, mark the target "Protocol": 1`
	key := filepath.Join(dir, "signer.key")

	out, err := exec.Command(bin, "-k", key, "-t", targets, "--sources", "kernel").CombinedOutput()
	code := procExitCode(t, err)
	t.Logf("protocol 2 target at an original sink: exit %d\n%s", code, out)
	if code != 1 || !strings.Contains(string(out), "old ("+s.Addr+"): FAILED, counter 1: "+want+"; retry in ") {
		t.Errorf("exit %d, want 1 and the failure\n%s", code, out)
	}
	ts, err := source.LoadTargets(targets)
	if err != nil {
		t.Fatal(err)
	}
	if e := ts.Entries[0]; e.Counter != 1 || e.Failures != 1 || e.LastError != want {
		t.Errorf("entry after the run: %+v", e)
	}

	ts.Entries[0].Protocol, ts.Entries[0].Next = 1, 0
	if err := ts.Save(targets); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "-k", key, "-t", targets, "--sources", "kernel", "--verbose").CombinedOutput()
	if code := procExitCode(t, err); code != 0 || !strings.Contains(string(out), "old ("+s.Addr+"): delivered, no reply (original sink), counter 2, protocol 1") {
		t.Errorf("marked protocol 1: exit %d\n%s", code, out)
	}
	s.Close()
	s.CheckUnique(t)
	if got := s.Accepted(); !slices.Equal(got, []int64{2}) {
		t.Errorf("sink accepted %v, want [2]", got)
	}
}

// exitCode is the exit status in err from exec's Run or Output.
func procExitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatal(err)
	}
	return ee.ExitCode()
}
