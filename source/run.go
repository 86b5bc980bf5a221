package source

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
)

// Config is what a run needs. Targets and Signer are required; every other
// field has a default.
type Config struct {
	// Targets is the path of the targets file.
	Targets string
	// Signer signs every packet.
	Signer crypto.Signer
	// Harvest gathers entropy once per run that has something due
	// (default SystemHarvester).
	Harvest Harvester

	// Concurrency bounds the sinks talked to at once (DefaultConcurrency).
	Concurrency int
	// DialTimeout bounds a connection, name lookup included (DefaultDialTimeout).
	DialTimeout time.Duration
	// IOTimeout bounds writing a frame and reading its reply (DefaultIOTimeout).
	IOTimeout time.Duration
	// LockWait is how long to wait for another run's lock (DefaultLockWait).
	LockWait time.Duration

	// Now is the clock for timestamps and schedules (time.Now). Network
	// deadlines use the real clock.
	Now func() time.Time
	// Dial connects to a sink (a net.Dialer's DialContext).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Rand is the randomness for sealing (ephemeral keys, nonces, PSS
	// salts) and for spreading schedules (crypto/rand.Reader). It must be
	// safe for concurrent use.
	Rand io.Reader
}

func (c *Config) setDefaults() {
	if c.Harvest == nil {
		c.Harvest = SystemHarvester
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.IOTimeout <= 0 {
		c.IOTimeout = DefaultIOTimeout
	}
	if c.LockWait < 0 {
		c.LockWait = 0
	} else if c.LockWait == 0 {
		c.LockWait = DefaultLockWait
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
}

// Result is what happened to one due target.
type Result struct {
	// Index is the entry's position in the targets file.
	Index int
	// Target is the entry as the run left it (Counter, Next, LastError updated).
	Target Target
	// Delivered: the sink accepted the packet, or closed without a reply
	// (an original sink; see NoReply).
	Delivered bool
	// Counter is the counter of the last packet sent, or 0 if none was.
	Counter int64
	// NoReply: the sink closed without a status reply, as an original sink
	// does. For a protocol 2 target that is suspicious: an original sink
	// rejects protocol 2 packets silently.
	NoReply bool
	// Retried: the sink reported a higher stored counter and the packet
	// was sent again above it.
	Retried bool
	// Err says why delivery failed.
	Err error
	// Elapsed is the time spent on this target.
	Elapsed time.Duration
}

// Report is the outcome of one run.
type Report struct {
	// Results has one entry per due target, in file order.
	Results []Result
	// Targets is the number of entries in the file.
	Targets int
	// NextDue is the earliest Next of any entry after the run (zero if
	// the file has no entries).
	NextDue time.Time
}

// Failed counts the due targets that were not delivered.
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if !res.Delivered {
			n++
		}
	}
	return n
}

// Run does one source run (see RATIONALE-source.md for the order of
// steps): lock the targets file, load it, harvest once if anything is due,
// reserve the counters in the file (write-ahead), push a packet to every
// due target concurrently, and record the outcome in one atomic rewrite.
//
// Delivery failures are not errors: they are in the report (and in the
// file's LastError). Run returns an error only when the run could not be
// made: the lock (ErrLocked), the file (ErrConfig), the harvest
// (ErrInsufficient or another harvester error) or writing the file.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if cfg.Signer == nil {
		return nil, errors.New("source: no signer key")
	}
	unlock, err := Lock(ctx, cfg.Targets, cfg.LockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// A run or entropy-target killed mid-write leaves its temporary file
	// beside the targets file; under the lock none is in use. They are
	// garbage, not state: if one cannot be removed the run goes on.
	_ = atomicfile.RemoveTemp(cfg.Targets)

	ts, err := LoadTargets(cfg.Targets)
	if err != nil {
		return nil, err
	}
	report := &Report{Targets: len(ts.Entries)}
	now := cfg.Now()
	var due []int
	for i, t := range ts.Entries {
		if t.Due(now) {
			due = append(due, i)
		}
	}
	if len(due) == 0 {
		report.NextDue = nextDue(ts)
		return report, nil
	}

	gen, err := cfg.Harvest(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: harvest: %w", err)
	}
	r := &run{cfg: &cfg, path: cfg.Targets, ts: ts, chunks: &chunks{r: gen}, walDone: make(chan struct{}),
		signing: make(chan struct{}, runtime.GOMAXPROCS(0))}

	// Reserve one counter per due target in memory; the write-ahead makes
	// the reservation durable while the packets are being signed, and no
	// frame leaves before it has.
	results := make([]Result, len(due))
	var work []int
	for k, i := range due {
		results[k] = Result{Index: i}
		if ts.Entries[i].Counter == math.MaxInt64 {
			results[k].Err = errors.New("source: counter is at its maximum; this signer cannot send to this sink again")
			continue
		}
		ts.Entries[i].Counter++
		results[k].Counter = ts.Entries[i].Counter
		work = append(work, k)
	}
	// The senders read their targets from a copy, so that signing is not
	// held up by the lock the write-ahead holds while it syncs.
	r.snapshot = make([]Target, len(ts.Entries))
	for i, t := range ts.Entries {
		r.snapshot[i] = *t
	}
	assumed := slices.Clone(results)
	for _, k := range work {
		assumed[k].Delivered = true
	}
	// The write-ahead runs on this goroutine while another dispatches the
	// senders. Started as a goroutine of its own it queued behind the
	// signers (each holds a processor for a whole signature), and the
	// first frames waited for it.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		r.send(ctx, results, work)
	}()
	// Schedules count from the run's start, with each target's random
	// spread drawn now: the outcome prepared ahead and the one recorded
	// must agree when the deliveries go as assumed.
	r.base = now
	r.seeds = make([]uint64, len(results))
	for k := range r.seeds {
		r.seeds[k] = r.seed()
	}
	r.mu.Lock()
	r.walErr = r.save("write-ahead")
	r.mu.Unlock()
	close(r.walDone)
	var prep *prepared
	if r.walErr == nil {
		prep = r.prepare(assumed)
	}
	<-sent
	if r.walErr != nil {
		return nil, fmt.Errorf("source: reserving counters before sending (nothing was sent): %w", r.walErr)
	}

	for k := range results {
		res := &results[k]
		r.schedule(ts.Entries[res.Index], res, k)
		res.Target = *ts.Entries[res.Index]
		res.Target.extra = nil
	}
	report.Results = results
	report.NextDue = nextDue(ts)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.record(prep); err != nil {
		return report, fmt.Errorf("source: recording the outcome (counters were reserved; the due targets will be sent again): %w", err)
	}
	return report, nil
}

func nextDue(ts *Targets) time.Time {
	var first int64 = math.MaxInt64
	for _, t := range ts.Entries {
		first = min(first, t.Next)
	}
	if len(ts.Entries) == 0 {
		return time.Time{}
	}
	return time.Unix(first, 0)
}

// run is the state shared by the senders of one run.
type run struct {
	cfg    *Config
	path   string
	chunks *chunks

	// mu guards ts and serialises rewrites of the file.
	mu sync.Mutex
	ts *Targets

	snapshot []Target // the entries when the run began; read-only

	base  time.Time // schedules count from here: the run's start
	seeds []uint64  // each result's random spread (see spread)

	// signing admits one signature per processor at a time. Signing is
	// all CPU: more at once only finish later together, while one per
	// core sends the first frame after one signature's time (on the
	// one-core board, eight at once would hold every frame back for
	// eight signatures) and spares the scheduler's switching.
	signing chan struct{}

	walDone chan struct{} // closed when the first write-ahead is done
	walErr  error
}

// send pushes a packet to the target of every result in work, at most
// Concurrency at a time, and returns when all are done.
func (r *run) send(ctx context.Context, results []Result, work []int) {
	deliver := func(res *Result) {
		start := time.Now()
		r.deliver(ctx, res)
		res.Elapsed = time.Since(start)
	}
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, k := range work {
		sem <- struct{}{}
		if i == len(work)-1 {
			// The last one on this goroutine: a run to one sink starts
			// signing without waiting for a goroutine to be scheduled.
			deliver(&results[k])
			break
		}
		wg.Add(1)
		go func(res *Result) {
			defer wg.Done()
			defer func() { <-sem }()
			deliver(res)
		}(&results[k])
	}
	wg.Wait()
}

// save writes the targets file, durably except for the final record;
// r.mu must be held.
func (r *run) save(write string) error {
	if err := hookSave(write); err != nil {
		return err
	}
	return r.ts.save(r.path, write != "record")
}

// prepared is the file a run leaves if every delivery goes as assumed,
// written and synced, not yet in place.
type prepared struct {
	entries []Target // as written
	file    *atomicfile.Prepared
}

// prepare writes, while the packets are still out, the file the run will
// leave if every sender delivers: the usual outcome, and then recording it
// is a rename, the final rewrite's fsync overlapped with the network
// rather than after it. It returns nil if the file could not be prepared;
// the outcome is then written as usual, and fails as usual.
func (r *run) prepare(assumed []Result) *prepared {
	r.mu.Lock()
	ts := &Targets{Entries: make([]*Target, len(r.ts.Entries)), single: r.ts.single}
	entries := make([]Target, len(r.ts.Entries))
	for i, t := range r.ts.Entries {
		entries[i] = *t
		ts.Entries[i] = &entries[i]
	}
	// The hook runs under the lock, so the order of writes tests see is
	// the order of this copy and a retry's reservation.
	hooked := hookSave("prepared")
	r.mu.Unlock()
	if hooked != nil {
		return nil
	}
	for k := range assumed {
		r.schedule(ts.Entries[assumed[k].Index], &assumed[k], k)
	}
	data, err := ts.Marshal()
	if err != nil {
		return nil
	}
	f, err := atomicfile.Prepare(r.path, data, filePerm(r.path))
	if err != nil {
		return nil
	}
	return &prepared{entries: entries, file: f}
}

// record writes the run's outcome, atomic and not durable: every counter
// in it is on disk already (the write-ahead, reserve), so losing it to a
// crash only makes the targets due again. It saves the folder's fsync. If
// the outcome is the one prepared, it only renames that file into place.
// r.mu must be held.
func (r *run) record(prep *prepared) error {
	if prep != nil {
		if r.sameEntries(prep.entries) {
			if err := prep.file.Commit(); err != nil {
				return fmt.Errorf("source: writing %s: %w", r.path, err)
			}
			return nil
		}
		prep.file.Discard()
	}
	return r.save("record")
}

// sameEntries reports whether the run's entries equal entries field for
// field, and so would be written alike. The unknown members are shared:
// a run never changes them.
func (r *run) sameEntries(entries []Target) bool {
	if len(entries) != len(r.ts.Entries) {
		return false
	}
	for i, t := range r.ts.Entries {
		a, b := *t, entries[i]
		a.extra, b.extra = nil, nil
		if !reflect.DeepEqual(a, b) {
			return false
		}
	}
	return true
}

// testHookSave, when set, runs before every write of the targets file
// (named "write-ahead", "reserve", "prepared" or "record") and fails it by
// returning an error (tests: a full disk is hard to come by as root).
var testHookSave func(write string) error

func hookSave(write string) error {
	if testHookSave == nil {
		return nil
	}
	return testHookSave(write)
}

// reserve moves entry i's counter up to counter and makes that durable
// before the caller sends with it.
func (r *run) reserve(i int, counter int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if counter > r.ts.Entries[i].Counter {
		r.ts.Entries[i].Counter = counter
	}
	return r.save("reserve")
}

// target returns entry i as it was when the run reserved its counters:
// the address, key and protocol a sender needs, which nothing changes
// during a run.
func (r *run) target(i int) Target { return r.snapshot[i] }

// schedule records result k in the entry: the next due time, LastError
// and the failure count.
func (r *run) schedule(t *Target, res *Result, k int) {
	every := t.Every()
	switch {
	case res.Delivered:
		t.Next = addSeconds(r.base, every+spread(every/spreadDivisor, r.seeds[k]))
		t.LastError = ""
		t.Failures = 0
	case errors.Is(res.Err, context.Canceled):
		// Interrupted (SIGTERM): still due, and not the sink's fault.
	default:
		t.Failures++
		backoff := every
		if t.Failures <= 30 {
			backoff = min(MinBackoff<<(t.Failures-1), max(every, MinBackoff))
		}
		t.Next = addSeconds(r.base, backoff+spread(backoff/4, r.seeds[k]))
		t.LastError = lastError(res.Err)
	}
}

func addSeconds(now time.Time, d time.Duration) int64 {
	return now.Unix() + int64(d/time.Second)
}

// seed draws a random number for spread from the run's Rand (0 if it
// fails: no spread).
func (r *run) seed() uint64 {
	var b [8]byte
	if _, err := io.ReadFull(r.cfg.Rand, b[:]); err != nil {
		return 0
	}
	return binary.BigEndian.Uint64(b[:])
}

// spread maps seed to a duration in [0, limit).
func spread(limit time.Duration, seed uint64) time.Duration {
	if limit <= 0 {
		return 0
	}
	return time.Duration(seed % uint64(limit))
}

// maxLastError bounds the LastError kept in the file.
const maxLastError = 400

func lastError(err error) string {
	if err == nil {
		return "unknown error"
	}
	s := strings.TrimPrefix(err.Error(), "source: ")
	if len(s) > maxLastError {
		s = s[:maxLastError] + "..."
	}
	return s
}
