package source

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestNoReplyProtocol2: an original sink closes without a reply whether
// it accepted or refused, and it always refuses protocol 2 (it cannot
// verify a recipient-bound signature). So for a protocol 2 target EOF is
// a failure, with a LastError that says what to do, and the counter it
// used stays used. Marked protocol 1, as the error says, the same target
// is delivered.
func TestNoReplyProtocol2(t *testing.T) {
	key := testSigner(t)
	s := sourcetest.Start(t, sourcetest.Original, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{sourcetest.Entry(s, entry{"Protocol": 2})})
	clk := newClock()
	cfg := Config{Targets: path, Signer: key, now: clk.Now}
	const want = `no status reply: if this sink runs the original entropyshare, mark the target "Protocol": 1`

	// Twice: each run fails, with a new counter (a used one is never
	// reused) and one more failure counted.
	for i := int64(1); i <= 2; i++ {
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failed() != 1 || len(rep.Results) != 1 {
			t.Fatalf("run %d: Failed() = %d of %d, want 1 of 1", i, rep.Failed(), len(rep.Results))
		}
		res := rep.Results[0]
		if res.Delivered || !res.NoReply || res.Counter != i || res.Target.LastError != want || res.Target.Failures != int(i) {
			t.Errorf("run %d: %+v\nwant not delivered, no reply, counter %d, LastError %q, Failures %d", i, res, i, want, i)
		}
		got := mustLoad(t, path).Entries[0]
		if got.Counter != i || got.LastError != want || got.Failures != int(i) || got.Next > clk.Now().Add(4*minBackoff).Unix() {
			t.Errorf("run %d: entry in the file %+v", i, got)
		}
		clk.Add(10 * time.Minute) // past its backoff: due again
	}

	ts := mustLoad(t, path)
	ts.Entries[0].Protocol = 1
	if err := ts.Save(path); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := rep.Results[0]; !res.Delivered || !res.NoReply || res.Counter != 3 || res.Target.LastError != "" || res.Target.Failures != 0 {
		t.Errorf("marked protocol 1: %+v, want delivered with no reply, counter 3", res)
	}
	s.Close()
	s.CheckUnique(t)
	if got := s.Received(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("sink received %v, want [1 2 3]", got)
	}
	if got := s.Accepted(); !slices.Equal(got, []int64{3}) {
		t.Errorf("sink accepted %v, want [3]: the original sink refuses protocol 2", got)
	}
}
