package sink

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// generation is one configuration in service: the checks a connection
// applies, the pool it feeds and where its signers' counters are. Reload
// replaces the generation between frames; a connection keeps the one it
// started with to its end, so a frame in flight finishes under the
// configuration it arrived under.
type generation struct {
	k       *compiled
	drift   int64
	pool    Pool
	ownPool bool // opened for this sink: closed once no connection uses it
	// poolUsers counts the connections using pool, under this generation
	// or an earlier one that shares the pool: the pool is closed when
	// they are all done.
	poolUsers *sync.WaitGroup

	at    []int    // at[i] is signer i's index in the state entries
	names []string // names[j] names the signer at entry j; "" if not configured

	// What a reload does not change, as the sink started with them, to
	// say so when a configuration changes them.
	address, metrics, state string

	active atomic.Int64 // connections using this generation, for the log (and tests)
}

func newGeneration(k *compiled, cfg *Config) *generation {
	return &generation{k: k, drift: cfg.Drift, poolUsers: new(sync.WaitGroup),
		address: cfg.Address, metrics: cfg.Metrics, state: cfg.StatePath()}
}

// place records where the signers' entries are, among n.
func (g *generation) place(at []int, n int) {
	g.at = at
	g.names = make([]string, n)
	for i, j := range at {
		g.names[j] = g.k.names[i]
	}
}

// current returns the generation in service.
func (s *Server) current() *generation {
	s.genMu.RLock()
	defer s.genMu.RUnlock()
	return s.gen
}

// acquire returns the generation in service, counted as used until the
// caller calls its release.
func (s *Server) acquire() *generation {
	s.genMu.RLock()
	defer s.genMu.RUnlock()
	s.gen.poolUsers.Add(1)
	s.gen.active.Add(1)
	return s.gen
}

func (g *generation) release() {
	g.active.Add(-1)
	g.poolUsers.Done()
}

// reloadRequest asks the committer to put gen in service.
type reloadRequest struct {
	gen  *generation
	done chan error
}

// Reload puts cfg in service in place of the configuration the sink runs
// with: its signers, drift, credit, pool and limits (MaxConns, ReadTimeout,
// MaxFrame). Connections in progress finish under the configuration they
// started with; each new one is served under cfg.
//
// Counters never go down. They stay those of the state file, keyed by each
// signer's public key: a signer kept keeps its counter whatever its place
// or name, a signer removed keeps its entry (configured again, it has its
// counter back), and a Counter in cfg is a floor, which can only raise the
// stored counter. New signers and raised floors are stored durably before
// cfg is put in service.
//
// The listen addresses and the state file are the caller's and stay as
// they are: when cfg changes Address, Metrics or State, Reload logs that a
// restart is needed to use them. On any error (cfg invalid, its pool not
// opened, the state not stored) the sink keeps serving as it was, and the
// error says why.
func (s *Server) Reload(cfg *Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	k, err := cfg.compile()
	if err != nil {
		return err
	}
	old := s.current()
	g := newGeneration(k, cfg)
	g.address, g.metrics, g.state = old.address, old.metrics, old.state
	// A pool the sink was given (Options) is the sink's for its life; one
	// it opened is opened anew only when the configuration changes it.
	g.pool, g.ownPool, g.poolUsers = old.pool, old.ownPool, old.poolUsers
	opened := false
	if old.ownPool && (k.pool != old.k.pool || k.credit != old.k.credit) {
		g.poolUsers = new(sync.WaitGroup)
		if g.pool, err = k.pool.open(k.credit, s.log); err != nil {
			return err
		}
		opened = true
	}
	r := &reloadRequest{gen: g, done: make(chan error, 1)}
	select {
	case s.reloads <- r:
		err = <-r.done
	case <-s.committerDone:
		err = ErrServerClosed
	}
	if err != nil {
		if opened {
			g.pool.Close()
		}
		return err
	}

	cfg.logWarnings(s.log)
	for _, c := range []struct{ field, was, is string }{
		{"Address", old.address, cfg.Address}, {"Metrics", old.metrics, cfg.Metrics}, {"State", old.state, cfg.StatePath()},
	} {
		if c.was != c.is {
			s.log.Warn(c.field+" changed: a reload does not change it; restart the sink to use it", "in_use", c.was, "configured", c.is)
		}
	}
	if *k.recipient.Public() != *old.k.recipient.Public() {
		s.log.Warn("the sink's key changed: sources seal to the old one until their targets entries carry the new public key",
			"public", k.summary(cfg).Public)
	}
	s.log.Info("reloaded", append(k.summary(cfg).Attrs(), "finishing_under_previous", old.active.Load())...)
	return nil
}

// swap puts g in service: the committer's part of Reload. It first makes
// durable the reservations made under the old generation, then, holding
// reservations off, stores the entries of g's new signers and its raised
// floors (if any), and replaces the generation. The old generation's pool,
// if g does not share it, is closed once the last connection using it
// (under the old generation or an earlier one) is done.
func (s *Server) swap(g *generation) error {
	for {
		s.commit()
		s.mu.Lock()
		if s.cur == nil {
			break
		}
		s.mu.Unlock() // reserved meanwhile: commit that too
	}
	defer s.mu.Unlock()

	es, at, changed := merge(s.entries, g.k.fps, g.k.floors)
	if changed {
		if n := len(es); slotSizeFor(n) > s.state.slotSize {
			return fmt.Errorf("sink: %d signers' counters do not fit the state file's slots (%s); restart the sink, which remakes it larger", n, s.statePath)
		}
		if err := s.write(es); err != nil {
			return fmt.Errorf("sink: storing the counters of the new configuration's signers: %w (%s)", err, s.statePath)
		}
		s.entries = es
	}
	for j, e := range es {
		if j == len(s.stored) {
			s.stored, s.pending = append(s.stored, e.counter), append(s.pending, e.counter)
		}
		// A floor raised: pending is stored here (no batch is open).
		s.stored[j], s.pending[j] = max(s.stored[j], e.counter), max(s.pending[j], e.counter)
	}
	g.place(at, len(es))

	s.genMu.Lock()
	old := s.gen
	s.gen = g
	s.genMu.Unlock()
	if s.rejects != nil {
		s.rejects.reset() // the new signers judge afresh
	}

	s.m.signersChanged(old.names, g.names, s.stored, es)
	if old.ownPool && old.pool != g.pool {
		s.retiring.Add(1)
		go func() {
			defer s.retiring.Done()
			old.poolUsers.Wait() // no connection takes old any more
			if err := old.pool.Close(); err != nil {
				s.log.Warn("closing the pool of the configuration replaced", "error", err.Error())
			}
		}()
	}
	return nil
}
