package source

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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
	// (default: crypto/rand, for tests and systems without a better
	// source; cmd/entropy-source uses the harvest package).
	Harvest Harvester

	// Concurrency bounds the sinks talked to at once (DefaultConcurrency).
	Concurrency int
	// DialTimeout bounds a connection, name lookup included (DefaultDialTimeout).
	DialTimeout time.Duration
	// IOTimeout bounds writing a frame and reading its reply (DefaultIOTimeout).
	IOTimeout time.Duration
	// LockWait is how long to wait for another run's lock (DefaultLockWait).
	LockWait time.Duration

	// Only, if not empty, limits the run to the entries whose Name or
	// Address it lists; a name that matches none is an error
	// (ErrNoSuchTarget, ErrConfig) before anything is sent.
	Only []string
	// Force sends to every entry the run considers, whatever its Next.
	Force bool

	// TLS is what https:// targets are sent with. Without it such a
	// target fails, before a counter is reserved for it; the others are
	// sent as usual.
	TLS *TLS

	// For tests. now is the clock for timestamps and schedules (default
	// time.Now; network deadlines use the real clock). writeFile replaces
	// the targets file (default writeFile): tests watch or fail the run's
	// writes with it, a full disk being hard to come by as root.
	now       func() time.Time
	writeFile writeFunc
}

func (c *Config) setDefaults() {
	if c.Harvest == nil {
		c.Harvest = func(context.Context) (io.Reader, error) { return rand.Reader, nil }
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
	if c.now == nil {
		c.now = time.Now
	}
	if c.writeFile == nil {
		c.writeFile = writeFile
	}
}

// Result is what happened to one due target.
type Result struct {
	// Target is the entry as the run left it (Counter, Next, LastError updated).
	Target Target
	// Delivered: the sink accepted the packet, or closed without a reply
	// to a protocol 1 packet (an original sink; see NoReply).
	Delivered bool
	// Counter is the last counter reserved for the target (the one its
	// last packet carried, if one was sent), or 0 if none was.
	Counter int64
	// NoReply: the sink closed without a status reply, as an original sink
	// does. For a protocol 2 target that is a failure: an original sink
	// rejects protocol 2 packets silently.
	NoReply bool
	// Retried: the sink reported a higher stored counter and the packet
	// was sent again above it.
	Retried bool
	// Elapsed is the time spent on this target.
	Elapsed time.Duration
	// Resumed: an https:// target's last TLS handshake resumed a session
	// of an earlier run (fewer bytes on the wire).
	Resumed bool

	index int         // the entry's position in the targets file
	err   error       // why delivery failed, as LastError says
	tls   *tls.Config // an https:// target's
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
	// Misspellings are the file's unknown fields that look like known
	// ones mistyped.
	Misspellings []Misspelling
	// Warnings are problems that did not stop the run, such as a TLS
	// sessions file that could not be read or written.
	Warnings []string
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

// Run does one source run, top to bottom: lock the targets file, load it,
// harvest once if anything is due, reserve a counter for every due target
// in one durable write, send to the due sinks in parallel (at most
// Concurrency at once), and record the outcome in one atomic rewrite.
//
// Delivery failures are not errors: they are in the report (and in the
// file's LastError). Run returns an error only when the run could not be
// made: the lock (ErrLocked), the file (ErrConfig), the harvest
// (ErrInsufficient or another harvester error), writing the file, or ctx
// ending first (ErrInterrupted, with no report). An interrupted run
// records nothing: the file stays as the reservation left it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if cfg.Signer == nil {
		return nil, errors.New("source: no signer key")
	}
	unlock, err := lock(ctx, cfg.Targets, cfg.LockWait, false)
	if err != nil && ctx.Err() != nil {
		return nil, interrupted("waiting for the lock: nothing was sent or written")
	}
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
	now := cfg.now()
	report := &Report{Targets: len(ts.Entries), Misspellings: ts.Misspellings()}
	due, err := cfg.selectDue(ts, now)
	if err != nil {
		return nil, err
	}
	for _, i := range due {
		report.Results = append(report.Results, Result{index: i})
	}
	if len(report.Results) == 0 {
		report.NextDue = nextDue(ts)
		return report, nil
	}

	gen, err := cfg.Harvest(ctx)
	if ctx.Err() != nil {
		return nil, interrupted("harvesting: nothing was sent or written")
	}
	if err != nil {
		return nil, fmt.Errorf("source: harvesting: %w", err)
	}

	// Reserve: one durable write holds every counter this run may send
	// with. Nothing is signed before it has returned. An https:// target
	// that cannot be sent (no client certificate, say) gets no counter.
	var sessions *sessionFile
	for k := range report.Results {
		res := &report.Results[k]
		t := ts.Entries[res.index]
		if t.HTTPS() {
			if sessions == nil {
				var err error
				if sessions, err = loadSessions(cfg.Targets+sessionsSuffix, cfg.now); err != nil {
					report.Warnings = append(report.Warnings, err.Error())
				}
			}
			if res.tls, res.err = cfg.httpsClient(t, sessions); res.err != nil {
				continue
			}
		}
		if t.Counter == math.MaxInt64 {
			res.err = errors.New("counter is at its maximum; this signer cannot send to this sink again")
			continue
		}
		t.Counter++
		res.Counter = t.Counter
	}
	r := &run{cfg: &cfg, ts: ts, chunks: &chunks{r: gen}}
	if err := r.save(true); err != nil {
		return nil, fmt.Errorf("source: reserving counters before sending (nothing was sent): %w", err)
	}

	r.sendAll(ctx, report.Results)
	if ctx.Err() != nil {
		// What reached a sink before the end is not recorded either: its
		// target is sent again, with a new counter, by the next run.
		return nil, interrupted("sending: the due targets stay due; the next run skips the counters reserved for them")
	}

	if sessions != nil {
		if err := sessions.save(cfg.Targets+sessionsSuffix, cfg.writeFile); err != nil {
			report.Warnings = append(report.Warnings, err.Error())
		}
	}

	// Record: one atomic rewrite, not durable. Every counter in it is on
	// disk already, so losing it to a crash only makes the targets due
	// again.
	for k := range report.Results {
		res := &report.Results[k]
		t := ts.Entries[res.index]
		schedule(t, res, now, rand.Reader)
		res.Target = *t
		res.Target.extra = nil
	}
	report.NextDue = nextDue(ts)
	if err := r.save(false); err != nil {
		return report, fmt.Errorf("source: recording the outcome (counters were reserved; the due targets will be sent again): %w", err)
	}
	return report, nil
}

// interrupted is the error of a run whose context ended while it was
// doing what. It does not wrap ctx's error: ErrInterrupted says it.
func interrupted(what string) error {
	return fmt.Errorf("%w while %s", ErrInterrupted, what)
}

func nextDue(ts *Targets) time.Time {
	if len(ts.Entries) == 0 {
		return time.Time{}
	}
	var first int64 = math.MaxInt64
	for _, t := range ts.Entries {
		first = min(first, t.Next)
	}
	return time.Unix(first, 0)
}

// run is what the senders of one run share.
type run struct {
	cfg    *Config
	chunks *chunks

	// mu guards ts's counters and serialises rewrites of the file while
	// senders run. The senders read their entry's Address, Public and
	// Protocol without it: nothing changes those during a run.
	mu sync.Mutex
	ts *Targets
}

// sendAll delivers every result that has a counter, at most Concurrency at
// a time, and returns when all are done.
func (r *run) sendAll(ctx context.Context, results []Result) {
	slots := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for k := range results {
		res := &results[k]
		if res.err != nil {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			start := time.Now()
			r.deliver(ctx, res)
			res.Elapsed = time.Since(start)
		})
	}
	wg.Wait()
}

// save writes the targets file: durably for a reservation, atomically
// only for the record. While senders run, r.mu must be held.
func (r *run) save(durable bool) error {
	return r.ts.save(r.cfg.Targets, durable, r.cfg.writeFile)
}

// reserve moves entry i's counter up to counter and makes that durable
// before the caller signs with it.
func (r *run) reserve(i int, counter int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ts.Entries[i].Counter = max(r.ts.Entries[i].Counter, counter)
	return r.save(true)
}

// schedule records res in t: the next due time, counted from the run's
// start (now), with a random spread drawn from rnd; LastError; the
// failure count; and, for a delivery, LastSuccess (now).
func schedule(t *Target, res *Result, now time.Time, rnd io.Reader) {
	every := t.Every()
	switch {
	case res.Delivered:
		t.Next = addSeconds(now, every+spread(every/spreadDivisor, rnd))
		t.LastError = ""
		t.Failures = 0
		t.LastSuccess = now.Unix()
	default:
		t.Failures++
		backoff := every
		if t.Failures <= 30 {
			backoff = min(minBackoff<<(t.Failures-1), max(every, minBackoff))
		}
		t.Next = addSeconds(now, backoff+spread(backoff/4, rnd))
		t.LastError = lastError(res.err)
	}
}

func addSeconds(now time.Time, d time.Duration) int64 {
	return now.Unix() + int64(d/time.Second)
}

// spread draws a duration in [0, limit) from rnd (0 if rnd fails).
func spread(limit time.Duration, rnd io.Reader) time.Duration {
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil || limit <= 0 {
		return 0
	}
	return time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(limit))
}

// maxLastError bounds the LastError kept in the file.
const maxLastError = 400

func lastError(err error) string {
	if err == nil {
		return "unknown error"
	}
	s := err.Error()
	if len(s) > maxLastError {
		s = s[:maxLastError] + "..."
	}
	return s
}
