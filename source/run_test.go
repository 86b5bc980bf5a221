package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestFanOut pushes to sinks that accept, are down, are slow, hold a
// higher counter, are originals (no reply) and refuse our clock, then runs
// again later: only what is due is sent.
func TestFanOut(t *testing.T) {
	key := testSigner(t)
	modes := []sourcetest.Mode{sourcetest.OK, sourcetest.Down, sourcetest.Slow, sourcetest.Stale, sourcetest.Original, sourcetest.Drift}
	var sinks []*sourcetest.Sink
	var entries []entry
	for _, m := range modes {
		s := sourcetest.Start(t, m, &key.PublicKey, sourcetest.WithDelay(time.Second))
		sinks = append(sinks, s)
		entries = append(entries, sourcetest.Entry(s, entry{"Name": m.String(), "Future": map[string]any{"x": []int{1, 2}}}))
	}
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, entries)
	clk := newClock()
	start := clk.Now()
	cfg := Config{Targets: path, Signer: key, now: clk.Now, IOTimeout: 300 * time.Millisecond, DialTimeout: 2 * time.Second}

	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	noRunGoroutines(t) // the slow sink's sender timed out and is gone
	if got := rep.Failed(); got != 3 {
		t.Errorf("Failed() = %d, want 3 (down, slow, drift)", got)
	}
	if len(rep.Results) != len(modes) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(modes))
	}
	want := []struct {
		delivered, retried, noReply bool
		counter                     int64
		lastError                   string
	}{
		sourcetest.OK:       {delivered: true, counter: 1},
		sourcetest.Down:     {counter: 1, lastError: "connection refused"},
		sourcetest.Slow:     {counter: 1, lastError: "timeout"},
		sourcetest.Stale:    {delivered: true, retried: true, counter: sourcetest.StaleCounter + 1},
		sourcetest.Original: {delivered: true, noReply: true, counter: 1},
		sourcetest.Drift:    {counter: 1, lastError: "clock skew"},
	}
	ts := mustLoad(t, path)
	for i, res := range rep.Results {
		w := want[modes[i]]
		if res.index != i || res.Delivered != w.delivered || res.Retried != w.retried || res.NoReply != w.noReply || res.Counter != w.counter {
			t.Errorf("%s: result %+v, want %+v", modes[i], res, w)
		}
		got := ts.Entries[i]
		if got.Counter != w.counter {
			t.Errorf("%s: file Counter %d, want %d", modes[i], got.Counter, w.counter)
		}
		if w.delivered {
			lo := start.Add(DefaultInterval).Unix()
			if got.Next < lo || got.Next > lo+int64(DefaultInterval/spreadDivisor/time.Second) || got.LastError != "" || got.Failures != 0 {
				t.Errorf("%s: delivered entry %+v, want Next in %d+spread, no error", modes[i], got, lo)
			}
		} else {
			lo := start.Add(minBackoff).Unix()
			if got.Next < lo || got.Next > lo+15 || got.Failures != 1 || !strings.Contains(got.LastError, w.lastError) {
				t.Errorf("%s: failed entry %+v, want Next in %d+15, Failures 1, LastError with %q", modes[i], got, lo, w.lastError)
			}
		}
		var future bytes.Buffer
		json.Compact(&future, got.extra["Future"])
		if future.String() != `{"x":[1,2]}` {
			t.Errorf("%s: unknown field lost: %v", modes[i], got.extra)
		}
	}
	if got := sinks[3].Received(); !slices.Equal(got, []int64{1, sourcetest.StaleCounter + 1}) {
		t.Errorf("stale sink received %v", got)
	}
	if got := sinks[5].Received(); !slices.Equal(got, []int64{1}) {
		t.Errorf("drift sink received %v", got)
	}

	// Two minutes later only the failed ones are due.
	clk.Add(2 * time.Minute)
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, res := range rep.Results {
		idx = append(idx, res.index)
	}
	if !slices.Equal(idx, []int{1, 2, 5}) {
		t.Fatalf("second run sent to %v, want [1 2 5]", idx)
	}
	ts = mustLoad(t, path)
	if d := ts.Entries[1]; d.Counter != 2 || d.Failures != 2 || d.Next < start.Add(2*time.Minute+2*minBackoff).Unix() {
		t.Errorf("down after two failures: %+v", d)
	}
	if ts.Entries[0].Counter != 1 || len(sinks[0].Received()) != 1 {
		t.Errorf("ok sink sent to again: %+v %v", ts.Entries[0], sinks[0].Received())
	}
	for _, s := range sinks {
		s.Close()
		s.CheckUnique(t)
	}
	checkDistinctChunks(t, sinks)
	// Close cuts both waits short at once: the order is not the sending order.
	if got := slices.Sorted(slices.Values(sinks[2].Received())); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("slow sink received %v", got)
	}
}

func checkDistinctChunks(t *testing.T, sinks []*sourcetest.Sink) {
	t.Helper()
	seen := map[[32]byte]bool{}
	for _, s := range sinks {
		for _, h := range s.Chunks() {
			if seen[h] {
				t.Errorf("the same chunk went to two packets")
			}
			seen[h] = true
		}
	}
}

// TestConcurrentRuns starts several runs on one file at once, with a clock
// that makes every target due in every run: the lock serialises them and
// no counter is ever used twice.
func TestConcurrentRuns(t *testing.T) {
	key := testSigner(t)
	var sinks []*sourcetest.Sink
	var entries []entry
	for range 3 {
		s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey, sourcetest.WithDriftWindow(1<<40))
		sinks = append(sinks, s)
		entries = append(entries, sourcetest.Entry(s, nil))
	}
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, entries)
	clk := newClock()
	clk.step = 7 * time.Hour
	const runs = 6
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Run(context.Background(), Config{Targets: path, Signer: key, now: clk.Now, LockWait: 30 * time.Second})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	ts := mustLoad(t, path)
	for i, s := range sinks {
		s.CheckUnique(t)
		if got := s.Accepted(); len(got) != runs || ts.Entries[i].Counter != runs {
			t.Errorf("sink %d accepted %v, file Counter %d; want %d runs", i, got, ts.Entries[i].Counter, runs)
		}
	}
}

// TestLocked: a run that cannot get the lock in time fails with ErrLocked
// and touches nothing.
func TestLocked(t *testing.T) {
	key := testSigner(t)
	s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	before := sourcetest.WriteTargets(t, path, []entry{sourcetest.Entry(s, nil)})
	unlock, err := lock(context.Background(), path, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Run(context.Background(), Config{Targets: path, Signer: key, LockWait: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "targets.json.lock") {
		t.Fatalf("err = %v, want ErrLocked naming the lock file", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) || len(s.Received()) != 0 {
		t.Fatal("a locked-out run changed something")
	}
}

// TestInsufficient: a harvest without enough entropy sends nothing and
// leaves the file alone.
func TestInsufficient(t *testing.T) {
	key := testSigner(t)
	s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	before := sourcetest.WriteTargets(t, path, []entry{sourcetest.Entry(s, nil)})
	harvest := func(context.Context) (r io.Reader, err error) {
		return nil, fmt.Errorf("health test failed: %w", ErrInsufficient)
	}
	_, err := Run(context.Background(), Config{Targets: path, Signer: key, Harvest: harvest})
	if !errors.Is(err, ErrInsufficient) {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) || len(s.Received()) != 0 {
		t.Fatal("an insufficient harvest changed something")
	}
}

// TestGeneratorRunsDry: a generator that ends fails the targets it could
// not fill (an EOF from it is not a sink closing without a reply), and
// their reserved counters stay used.
func TestGeneratorRunsDry(t *testing.T) {
	key := testSigner(t)
	s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{sourcetest.Entry(s, nil)})
	harvest := func(context.Context) (io.Reader, error) { return strings.NewReader(""), nil }
	rep, err := Run(context.Background(), Config{Targets: path, Signer: key, Harvest: harvest})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 1 || rep.Results[0].NoReply {
		t.Fatalf("results %+v", rep.Results)
	}
	if tg := mustLoad(t, path).Entries[0]; tg.Counter != 1 || !strings.Contains(tg.LastError, "reading the generator") {
		t.Errorf("entry after the run: %+v", tg)
	}
	if got := s.Received(); len(got) != 0 {
		t.Errorf("sink received %v", got)
	}
}

// TestNothingDue: no harvest, no write.
func TestNothingDue(t *testing.T) {
	key := testSigner(t)
	path := filepath.Join(t.TempDir(), "targets.json")
	next := time.Now().Add(time.Hour).Unix()
	before := sourcetest.WriteTargets(t, path, []entry{{"Address": "127.0.0.1:1", "Public": "ey7zgZ422whZvIkoAAEsz/+EgecB19gtAMCFNiPDnXU=", "Next": next}})
	harvest := func(context.Context) (io.Reader, error) {
		t.Error("harvested with nothing due")
		return nil, errors.New("no")
	}
	rep, err := Run(context.Background(), Config{Targets: path, Signer: key, Harvest: harvest})
	if err != nil || len(rep.Results) != 0 || rep.NextDue.Unix() != next {
		t.Fatalf("rep %+v, err %v", rep, err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("file rewritten with nothing due")
	}
}

// noRunGoroutines fails t if, within a few seconds, goroutines of this
// package (senders, the write-ahead) are still running: Run must leave
// none behind, whatever happened to its sinks. The sinks' own goroutines
// (package sourcetest) and the tests' are not counted.
func noRunGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "entropyshare/source.") && !strings.Contains(g, "entropyshare/source.Test") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the run still running:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A run cancelled while its sinks hang returns promptly with
// ErrInterrupted, records nothing after the reservation, and leaves no
// goroutine behind.
func TestCancelledRunLeavesNothing(t *testing.T) {
	key := testSigner(t)
	var entries []entry
	for range 12 { // more than DefaultConcurrency: some wait for a slot
		s := sourcetest.Start(t, sourcetest.Slow, &key.PublicKey, sourcetest.WithDelay(time.Minute))
		entries = append(entries, sourcetest.Entry(s, nil))
	}
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, entries)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var reserved []byte
	cfg := Config{Targets: path, Signer: key, writeFile: func(path string, data []byte, perm os.FileMode, durable bool) error {
		if durable {
			reserved = data
		}
		return writeFile(path, data, perm, durable)
	}}
	start := time.Now()
	rep, err := Run(ctx, cfg)
	if !errors.Is(err, ErrInterrupted) || rep != nil {
		t.Fatalf("err = %v, report %v; want ErrInterrupted and none", err, rep)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("cancelled run took %s", took)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, reserved) {
		t.Fatalf("file after the run:\n%s\nwant the reservation's\n%s", after, reserved)
	}
	ts, err := LoadTargets(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, tg := range ts.Entries {
		if tg.LastError != "" || tg.Counter != 1 || tg.Next != 0 {
			t.Errorf("entry %d: counter %d, next %d, last error %q", i, tg.Counter, tg.Next, tg.LastError)
		}
	}
	noRunGoroutines(t)
}

// A reservation that fails sends nothing: the run signs nothing, opens no
// connection, leaves the file as it was and no goroutine behind.
func TestWriteAheadFails(t *testing.T) {
	key := testSigner(t)
	var sinks []*sourcetest.Sink
	var entries []entry
	for range 3 {
		s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
		sinks = append(sinks, s)
		entries = append(entries, sourcetest.Entry(s, nil))
	}
	path := filepath.Join(t.TempDir(), "targets.json")
	before := sourcetest.WriteTargets(t, path, entries)
	full := errors.New("no space left on device")
	fail := func(path string, data []byte, perm os.FileMode, durable bool) error {
		if durable {
			return full
		}
		return writeFile(path, data, perm, durable)
	}
	fds := openFiles(t)
	_, err := Run(context.Background(), Config{Targets: path, Signer: key, writeFile: fail})
	if !errors.Is(err, full) || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("err = %v", err)
	}
	for i, s := range sinks {
		if got := s.Received(); len(got) != 0 {
			t.Errorf("sink %d received %v before the counters were on disk", i, got)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the file changed")
	}
	noRunGoroutines(t)
	noMoreFiles(t, fds)
}

// A sink key of low order would give a box key anyone can compute: that
// target fails with a sealing error, its sink is not even connected to,
// and the other targets are delivered.
func TestLowOrderSinkKey(t *testing.T) {
	key := testSigner(t)
	bad := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	good := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	var low [32]byte
	low[0] = 1 // the point u=1, of order 1 (all zeros is refused on load)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{
		sourcetest.Entry(bad, map[string]any{"Public": base64.StdEncoding.EncodeToString(low[:])}),
		sourcetest.Entry(good, nil),
	})
	fds := openFiles(t)
	rep, err := Run(context.Background(), Config{Targets: path, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 1 || rep.Results[0].Delivered || !rep.Results[1].Delivered {
		t.Fatalf("report %+v", rep.Results)
	}
	if msg := rep.Results[0].err.Error(); !strings.Contains(msg, "sealing") || !strings.Contains(msg, "sink public key") {
		t.Errorf("error %q does not say the sink key could not be sealed to", msg)
	}
	if got := bad.Received(); len(got) != 0 {
		t.Errorf("the low-order sink opened frames %v", got)
	}
	if errs := bad.Errors(); len(errs) != 0 {
		t.Errorf("the low-order sink was connected to: %v", errs)
	}
	if got := good.Accepted(); !slices.Equal(got, []int64{1}) {
		t.Errorf("good sink accepted %v", got)
	}
	ts := mustLoad(t, path)
	if ts.Entries[0].Counter != 1 || !strings.Contains(ts.Entries[0].LastError, "sink public key") {
		t.Errorf("entry 0: counter %d, last error %q", ts.Entries[0].Counter, ts.Entries[0].LastError)
	}
	noRunGoroutines(t)
	noMoreFiles(t, fds)
}

// noMoreFiles fails t if, within a few seconds, this process does not get
// back to fds open files: every connection a run opened is closed, even
// one it never wrote to (the test sinks, in this process too, close their
// end on EOF).
func noMoreFiles(t *testing.T, fds int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); openFiles(t) > fds; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d files open after the run, %d before: connections left open", openFiles(t), fds)
		}
	}
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestWrites: a run writes the targets file once durably to reserve its
// counters, once more before each retry, and once at the end to record the
// outcome; no sink receives a counter before a durable write holds it, and
// no temporary file stays behind.
func TestWrites(t *testing.T) {
	key := testSigner(t)
	modes := []sourcetest.Mode{sourcetest.OK, sourcetest.Stale, sourcetest.Original, sourcetest.Down}
	var sinks []*sourcetest.Sink
	var entries []entry
	for _, m := range modes {
		s := sourcetest.Start(t, m, &key.PublicKey)
		sinks = append(sinks, s)
		entries = append(entries, sourcetest.Entry(s, nil))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, path, entries)

	var mu sync.Mutex
	var writes []string
	onDisk := make([]int64, len(sinks)) // the counters of the last durable write
	checkSinks := func(when string) {
		for i, s := range sinks {
			for _, c := range s.Received() {
				if c > onDisk[i] {
					t.Errorf("%s: sink %d (%s) received counter %d, the file on disk holds %d", when, i, s.Mode, c, onDisk[i])
				}
			}
		}
	}
	watch := func(path string, data []byte, perm os.FileMode, durable bool) error {
		mu.Lock()
		defer mu.Unlock()
		checkSinks(fmt.Sprintf("write %d", len(writes)+1))
		if err := writeFile(path, data, perm, durable); err != nil {
			return err
		}
		if !durable {
			writes = append(writes, "record")
			return nil
		}
		writes = append(writes, "reserve")
		ts, err := parseTargets(path, data)
		if err != nil {
			t.Error(err) // not Fatal: a retry's reservation runs on a sender's goroutine
			return err
		}
		for i, tg := range ts.Entries {
			onDisk[i] = tg.Counter
		}
		return nil
	}
	rep, err := Run(context.Background(), Config{Targets: path, Signer: key, writeFile: watch})
	if err != nil {
		t.Fatal(err)
	}
	checkSinks("after the run")
	if want := []string{"reserve", "reserve", "record"}; !slices.Equal(writes, want) {
		t.Errorf("writes %v, want %v (the stale sink's retry reserves once more)", writes, want)
	}
	if rep.Failed() != 1 || !rep.Results[1].Retried {
		t.Errorf("results %+v", rep.Results)
	}
	want := []int64{1, sourcetest.StaleCounter + 1, 1, 1}
	for i, tg := range mustLoad(t, path).Entries {
		if tg.Counter != want[i] {
			t.Errorf("entry %d: counter %d, want %d", i, tg.Counter, want[i])
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 2 { // targets.json and its lock
		t.Errorf("folder holds %v", names)
	}
}

// A run removes the temporary files a killed writer left, and only those.
func TestRemovesTempFiles(t *testing.T) {
	key := testSigner(t)
	s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, path, []entry{sourcetest.Entry(s, nil)})
	for _, name := range []string{".targets.json8123456", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Run(context.Background(), Config{Targets: path, Signer: key}); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"notes.txt", "targets.json", "targets.json.lock"}; !slices.Equal(names, want) {
		t.Errorf("folder holds %v, want %v", names, want)
	}
}
