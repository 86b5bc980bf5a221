package sink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entropyshare/entropyshare/packet"
	"golang.org/x/time/rate"
)

// Options are what a Server takes besides its configuration. The zero
// value serves with the real clock, the pool the configuration names, and
// no log.
type Options struct {
	Logger *slog.Logger
	// Version is the sink's version, for /metrics (build_info).
	Version string

	now  func() time.Time // the clock drift is checked against; tests stop it
	pool Pool             // tests record chunks; nil opens the configuration's
	// wrapWrite, when set, wraps the committer's state write: tests inject
	// delays and failures, benchmarks other ways to store.
	wrapWrite func(write func([]entry) error) func([]entry) error
	// identity is where the machine identity is read; zero: hostIdentity.
	identity identityFiles
	// writeSeed, when set, writes the boot seed in updateBootSeed's place.
	writeSeed seedWriter
}

// Server is a running sink: it accepts frames on listeners, checks them in
// PROTOCOL.md's order, stores counters durably and feeds the pool.
type Server struct {
	log *slog.Logger
	now func() time.Time
	m   *metrics

	// The configuration in service, its pool and signers (reload.go).
	// Only the committer replaces gen, under genMu, when Reload asks it
	// to; a connection keeps the generation it started with.
	genMu    sync.RWMutex
	gen      *generation
	reloadMu sync.Mutex          // one Reload at a time
	reloads  chan *reloadRequest // Reload to the committer
	retiring sync.WaitGroup      // pools of replaced generations, closing

	// The committer's alone: the state file, its entries as last made
	// durable, and the write (state.write unless a test wraps it).
	state     *stateFile
	statePath string
	entries   []entry
	write     func([]entry) error

	// Counters are by index in entries, which only grow (a reload
	// appends the entries of new signers), so an index taken under one
	// generation is the same signer's under the next.
	mu      sync.Mutex // guards what follows
	stored  []int64    // durable counters, by entry index
	pending []int64    // highest reserved counters (>= stored)
	cur     *batch     // reservations waiting for the next write

	kick          chan struct{}
	stop          chan struct{}
	committerDone chan struct{}
	storeOK       atomic.Bool

	open     atomic.Int64  // connections being served (the MaxConns cap)
	busySem  chan struct{} // bounds goroutines replying "busy"
	shutting atomic.Bool

	trackMu   sync.Mutex
	conns     map[net.Conn]struct{}
	listeners map[net.Listener]struct{}
	wg        sync.WaitGroup // connection goroutines

	seed    *seeder       // the boot seed's writer
	slots   *connTable    // connection slots (limits.go)
	rejects *replayCache  // payloads rejected before; nil: off (replay.go)
	hints   *rate.Limiter // legacy hints worked out (replay.go)
	summary *logSummary   // lines of connections without a whole frame
}

// New checks cfg, opens its state file (making it when missing: see
// Config.State) and its pool, and starts the sink's committer. A state
// file that cannot be read, or is damaged, is a *ConfigError naming it,
// and nothing is written then. Call Shutdown to stop the server.
func New(cfg *Config, opts Options) (*Server, error) {
	k, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	path, err := cfg.statePathChecked()
	if err != nil {
		return nil, err
	}
	seedPath := cfg.BootSeedPath()
	if err := checkBootSeedPath(cfg, seedPath); err != nil {
		return nil, err
	}
	g := newGeneration(k, cfg)
	g.pool = opts.pool
	s := &Server{
		log:           opts.Logger,
		now:           opts.now,
		reloads:       make(chan *reloadRequest),
		statePath:     path,
		kick:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		committerDone: make(chan struct{}),
		busySem:       make(chan struct{}, busyResponders),
		conns:         map[net.Conn]struct{}{},
		listeners:     map[net.Listener]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	cfg.logWarnings(s.log)
	if err := s.initLimits(k); err != nil {
		return nil, err
	}
	if s.state, err = openState(path, k.fps, k.floors); err != nil {
		return nil, err
	}
	if s.state.created {
		s.log.Warn("no state file (first start?): made it, with the configuration's counters", "file", path)
	}
	if s.state.spoiled != "" {
		s.log.Warn("state file: one slot unreadable (a write cut short?); using the other", "file", path, "slot", s.state.spoiled)
	}
	if g.pool == nil {
		p, err := k.pool.open(k.credit, s.log)
		if err != nil {
			s.state.close()
			return nil, err
		}
		g.pool, g.ownPool = p, true
	}
	s.entries = s.state.es
	s.write = s.state.write
	if opts.wrapWrite != nil {
		s.write = opts.wrapWrite(s.write)
	}
	s.stored = make([]int64, len(s.entries))
	for j, e := range s.entries {
		s.stored[j] = e.counter
	}
	s.pending = slices.Clone(s.stored)
	g.place(s.state.at, len(s.entries))
	s.gen = g
	counters, last := make([]int64, len(k.names)), make([]int64, len(k.names))
	for i, j := range g.at {
		counters[i], last[i] = s.entries[j].counter, s.entries[j].stored
	}
	s.m = newMetrics(k.names, counters, last)
	s.m.addRuntime(opts.Version)
	s.storeOK.Store(true)
	s.seed = startSeeder(seedPath, opts.identity, opts.writeSeed, s.now, s.log, s.m)
	go s.commitLoop()
	return s, nil
}

// counters returns the durable counters of the configured signers, by
// name.
func (s *Server) counters() map[string]int64 {
	g := s.current()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(g.at))
	for i, j := range g.at {
		out[g.k.names[i]] = s.stored[j]
	}
	return out
}

// Serve accepts connections on l until Shutdown, serving each on its own
// goroutine, at most MaxConns at once; it returns ErrServerClosed after
// Shutdown. Excess connections are told the sink is busy (0x06) and closed.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l, nil) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l, nil)
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors, say: wait rather than spin, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "error", err.Error(), "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		sl, victim := s.slots.admit(c, time.Now())
		if sl == nil {
			s.refuse(c)
			continue
		}
		if victim != nil {
			victim.evict()
		}
		if !s.track(nil, c) {
			s.slots.release(sl)
			c.Close()
			continue
		}
		s.open.Add(1)
		s.m.open.Inc()
		go s.serveConn(sl)
	}
}

// track registers a listener or connection unless the server is shutting
// down. Registering and Shutdown's wait are ordered by trackMu, so no
// connection starts after Shutdown began waiting.
func (s *Server) track(l net.Listener, c net.Conn) bool {
	s.trackMu.Lock()
	defer s.trackMu.Unlock()
	if s.shutting.Load() {
		return false
	}
	if l != nil {
		s.listeners[l] = struct{}{}
	}
	if c != nil {
		s.conns[c] = struct{}{}
		s.wg.Add(1)
	}
	return true
}

func (s *Server) untrack(l net.Listener, c net.Conn) {
	s.trackMu.Lock()
	defer s.trackMu.Unlock()
	if l != nil {
		delete(s.listeners, l)
	}
	if c != nil {
		delete(s.conns, c)
		s.wg.Done()
	}
}

// refuse tells an excess connection the sink is busy, on a goroutine of a
// bounded set; when that set is full too, it just closes the connection.
func (s *Server) refuse(c net.Conn) {
	s.m.rejected.WithLabelValues("busy", "").Inc()
	s.summary.add("busy", c.RemoteAddr())
	select {
	case s.busySem <- struct{}{}:
	default:
		c.Close()
		return
	}
	if !s.track(nil, c) {
		<-s.busySem
		c.Close()
		return
	}
	go func() {
		defer func() { <-s.busySem }()
		defer s.untrack(nil, c)
		defer c.Close()
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if packet.WriteStatus(c, packet.StatusBusy, 0) == nil {
			linger(c)
		}
	}()
}

// serveConn runs one connection: read, check, store, feed, reply, log.
func (s *Server) serveConn(sl *slot) {
	c := sl.c
	defer s.untrack(nil, c)
	defer s.m.open.Dec()
	defer s.open.Add(-1)
	defer c.Close()
	defer s.slots.release(sl)
	g := s.acquire()
	defer g.release()
	start := time.Now()
	r := &frameReader{sl: sl, k: g.k, start: start}

	// The log line is written before the reply, so that it exists by the
	// time the peer reads the reply.
	ctx := withConn(context.Background(), connInfo{transport: "tcp", peer: c.RemoteAddr().String(), addr: c.RemoteAddr(), start: start, gen: g})
	status, value, err := s.receive(ctx, r)
	switch {
	case errors.Is(err, errEmpty): // nobody to reply to
	case errors.Is(err, errEvicted):
		s.sayBusy(c)
	default:
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if packet.WriteStatus(c, status, value) == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			s.slots.linger(sl)
		}
	}
}

// record counts and logs one frame's outcome: a line for each frame read
// whole (a replay of a rejected one aside); the rest are summed up
// (logsummary.go).
func (s *Server) record(ci connInfo, o *opened, hint string, err error, status packet.Status) {
	attrs := []any{"peer", ci.peer}
	if ci.transport == "https" {
		attrs = append(attrs, "transport", ci.transport, "client", ci.client)
	}
	name := ""
	if o != nil {
		name = o.name
		attrs = append(attrs, "protocol", int(o.Protocol), "signer", o.name, "counter", o.Packet.Counter)
	}
	if err == nil {
		now := s.now()
		s.m.accepted.WithLabelValues(name).Inc()
		s.m.lastAccepted.WithLabelValues(name).Set(float64(now.Unix()))
		s.m.observeOffset(name, o.Packet.Timestamp, now)
		s.log.Info("accepted", append(attrs, "duration", time.Since(ci.start))...)
		return
	}
	why := reason(err)
	s.m.rejected.WithLabelValues(why, name).Inc()
	if (ci.short || why == "replay") && ci.addr != nil {
		s.summary.add(why, ci.addr)
		return
	}
	attrs = append(attrs, "reason", why, "status", int(status), "error", err.Error())
	if hint != "" {
		attrs = append(attrs, "hint", hint)
	}
	level := slog.LevelInfo
	if why == "store" || why == "feed" {
		level = slog.LevelError
	}
	s.log.Log(context.Background(), level, "rejected", append(attrs, "duration", time.Since(ci.start))...)
}

// receive reads the frame on r and accepts it. A frame that cannot be
// read whole is counted and summed up here.
func (s *Server) receive(ctx context.Context, r *frameReader) (packet.Status, int64, error) {
	payload, err := s.readFrame(r)
	if err != nil {
		status, value := packet.ReplyFor(err)
		ci := connOf(ctx)
		ci.short = true // no whole frame: summed up, not a line each
		s.record(ci, nil, "", err, status)
		return status, value, err
	}
	return s.accept(ctx, payload)
}

// linger half-closes c and drains what the peer still sends, briefly, so
// that closing with unread input does not reset the connection and destroy
// the reply on its way (a peer whose frame was refused after its header,
// say, is still writing).
func linger(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, c, lingerBytes)
}

// Shutdown stops accepting, waits for the connections in flight until ctx
// is done, then closes those left and waits for their goroutines (a
// connection waiting for its counter to be stored still finishes: the
// write is bounded by the disk). It returns ctx's error if it had to close
// connections. Shutdown may be called more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.trackMu.Lock()
	first := !s.shutting.Swap(true)
	for l := range s.listeners {
		l.Close()
	}
	s.trackMu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.trackMu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.trackMu.Unlock()
		<-done
	}
	if first {
		close(s.stop)
		<-s.committerDone
		s.seed.close()
		// The committer has stopped: no Reload replaces gen any more.
		if g := s.current(); g.ownPool {
			if cerr := g.pool.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}
	<-s.committerDone
	s.retiring.Wait()
	s.summary.close()
	return err
}
