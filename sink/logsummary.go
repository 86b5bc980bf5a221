package sink

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// logSummary writes the connections that never delivered a whole frame
// (busy refusals, evictions, timeouts, bad lengths, empty connections)
// and replays of a rejected frame as one line per reason at most every
// summaryEvery: the first at once, the rest counted, with the addresses
// that caused most of them, until the period is over. A peer that opens
// thousands of connections a second then costs the log a line every ten
// seconds; a frame read whole still gets its own line (Server.record).
//
//	msg="rejected connections" reason=busy count=5120 period=10s top="192.0.2.7 (5100), 198.51.100.0/64 (20)"
type logSummary struct {
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	reasons map[string]*summaryState
	closed  bool
}

// summaryState is one reason's period.
type summaryState struct {
	count  int
	since  time.Time // the period's first event
	last   time.Time // the last line written
	addrs  map[netip.Prefix]int
	others int // events from addresses beyond maxSummaryAddrs
	timer  *time.Timer
}

const (
	// summaryEvery is the shortest time between two lines of one reason.
	summaryEvery = 10 * time.Second
	// maxSummaryAddrs bounds the addresses a period remembers.
	maxSummaryAddrs = 1024
	// summaryTop is how many addresses a line names.
	summaryTop = 3
)

func newLogSummary(log *slog.Logger, every time.Duration) *logSummary {
	return &logSummary{log: log, every: every, reasons: map[string]*summaryState{}}
}

// level is what a reason is logged at: an empty connection (a port scan,
// a TCP health check) is no event worth an operator's attention.
func summaryLevel(reason string) slog.Level {
	if reason == "empty" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// add counts one connection from peer rejected for reason.
func (l *logSummary) add(reason string, peer net.Addr) {
	level := summaryLevel(reason)
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	st := l.reasons[reason]
	if st == nil {
		st = &summaryState{addrs: map[netip.Prefix]int{}}
		l.reasons[reason] = st
	}
	if st.count == 0 {
		st.since = now
	}
	st.count++
	key := addrKey(peer)
	if _, ok := st.addrs[key]; ok || len(st.addrs) < maxSummaryAddrs {
		st.addrs[key]++
	} else {
		st.others++
	}
	switch {
	case st.timer != nil: // a line is due at the end of the period
	case st.last.IsZero() || now.Sub(st.last) >= l.every:
		l.writeLocked(reason, st, now)
	default:
		st.timer = time.AfterFunc(st.last.Add(l.every).Sub(now), func() { l.flush(reason) })
	}
}

func (l *logSummary) flush(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.reasons[reason]; st != nil {
		st.timer = nil
		if st.count > 0 {
			l.writeLocked(reason, st, time.Now())
		}
	}
}

// writeLocked writes reason's line and starts a new period.
func (l *logSummary) writeLocked(reason string, st *summaryState, now time.Time) {
	type addrCount struct {
		addr  netip.Prefix
		count int
	}
	top := make([]addrCount, 0, len(st.addrs))
	for a, n := range st.addrs {
		top = append(top, addrCount{a, n})
	}
	slices.SortFunc(top, func(a, b addrCount) int {
		return cmp.Or(cmp.Compare(b.count, a.count), a.addr.Addr().Compare(b.addr.Addr()))
	})
	var b strings.Builder
	for i, a := range top[:min(len(top), summaryTop)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d)", prefixString(a.addr), a.count)
	}
	attrs := []any{"reason", reason, "count", st.count, "addresses", len(st.addrs), "top", b.String()}
	if st.others > 0 {
		attrs = append(attrs, "unlisted", st.others) // from addresses past maxSummaryAddrs
	}
	if st.count > 1 {
		attrs = append(attrs, "period", now.Sub(st.since).Round(time.Millisecond))
	}
	l.log.Log(context.Background(), summaryLevel(reason), "rejected connections", attrs...)
	st.count, st.others, st.last = 0, 0, now
	clear(st.addrs)
}

// prefixString writes an IPv4 key as a plain address, an IPv6 one as
// its /64.
func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return "other"
	}
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// close writes what is pending and stops; later events are dropped.
func (l *logSummary) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	now := time.Now()
	for reason, st := range l.reasons {
		if st.timer != nil {
			st.timer.Stop()
			st.timer = nil
		}
		if st.count > 0 {
			l.writeLocked(reason, st, now)
		}
	}
}
