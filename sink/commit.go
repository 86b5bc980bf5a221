package sink

import (
	"fmt"
	"slices"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// Group commit. A connection whose packet passed every other check
// reserves its counter (reserve: the check against the highest counter
// reserved so far and the reservation are one step under mu, so no two
// connections can pass with the same counter), then waits for the batch it
// joined. The committer takes the whole batch, writes the state file once
// (one slot, one fdatasync) with the highest counters, and only then
// releases the batch: each connection feeds its own chunk after its counter
// is durable. While one write is in progress the next batch fills, so
// concurrent packets share fsyncs and a lone packet waits for no timer.

// batch is the set of reservations made durable by one state write.
type batch struct {
	done    chan struct{} // closed when err is set
	err     error
	n       int
	touched []bool // state entry indexes with a reservation in this batch
	seed    seedBatch
}

// reserve checks counter against the highest reserved counter of the
// signer at state entry i and, if it is above, reserves it in the current
// batch. A counter that another connection has overtaken, durable or not,
// is rejected with that counter as the stored one: the source may move up
// to it.
func (s *Server) reserve(i int, counter int64) (*batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := packet.CheckCounter(counter, s.pending[i]); err != nil {
		return nil, err
	}
	s.pending[i] = counter
	if s.cur == nil {
		s.cur = &batch{done: make(chan struct{}), touched: make([]bool, len(s.pending))}
	}
	s.cur.touched[i] = true
	s.cur.n++
	select {
	case s.kick <- struct{}{}:
	default: // the committer is already due to look
	}
	return s.cur, nil
}

func (s *Server) commitLoop() {
	defer close(s.committerDone)
	defer s.state.close()
	for {
		select {
		case <-s.kick:
			s.commit()
		case <-s.stop:
			s.commit() // nothing should be left; never strand a waiter
			return
		case r := <-s.reloads:
			r.done <- s.swap(r.gen)
		}
	}
}

// commit makes the current batch durable, or fails all of it.
func (s *Server) commit() {
	s.mu.Lock()
	b := s.cur
	s.cur = nil
	if b == nil {
		s.mu.Unlock()
		return
	}
	counters := slices.Clone(s.pending)
	s.mu.Unlock()

	// The batch's signers' counters were stored now.
	at := s.now().Unix()
	next := slices.Clone(s.entries)
	for i, c := range counters {
		e := &next[i]
		e.counter = c
		if b.touched[i] {
			e.stored = at
		}
	}
	start := time.Now()
	err := s.write(next)
	s.m.commitSeconds.Observe(time.Since(start).Seconds())
	s.m.commitBatch.Observe(float64(b.n))

	if err == nil {
		s.entries = next
	}
	s.mu.Lock()
	if err == nil {
		copy(s.stored, counters)
	} else {
		// Roll back what this batch reserved, unless the batch filling now
		// reserved a higher counter for the same signer (those wait for the
		// next write and are above the stored counter all the same).
		for i := range s.pending {
			if s.cur == nil || !s.cur.touched[i] {
				s.pending[i] = s.stored[i]
			}
		}
	}
	s.mu.Unlock()

	if err != nil {
		s.storeOK.Store(false)
		s.m.storeErrors.Inc()
		s.log.Error("cannot store counters: rejecting packets until the state file is writable",
			"file", s.statePath, "error", err.Error(), "packets", b.n)
		b.err = fmt.Errorf("%w: %v", errStore, err)
	} else {
		if !s.storeOK.Swap(true) {
			s.log.Info("state file writable again", "file", s.statePath)
		}
		// Only the committer replaces s.gen: it reads it unlocked.
		for i, c := range counters {
			if name := s.gen.names[i]; b.touched[i] && name != "" {
				s.m.counter.WithLabelValues(name).Set(float64(c))
			}
		}
	}
	close(b.done)
}
