package sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// opened is a frame that passed steps 2 to 5 of PROTOCOL.md's acceptance
// order (box, signature, packet, drift); the counter is the caller's.
type opened struct {
	*packet.Opened
	name string // of the signer
}

// check applies acceptance steps 2 to 5 to a frame payload. hint, when not
// empty, is a local explanation of a rejection for the log; allowHint
// (nil: always) is asked before the verification it may cost, only for a
// payload no signer verified (packet.Recipient.OpenHint).
func (k *compiled) check(payload []byte, now time.Time, drift int64, allowHint func() bool) (o *opened, hint string, err error) {
	var po *packet.Opened
	if allowHint == nil {
		po, err = k.recipient.Open(payload)
	} else {
		po, err = k.recipient.OpenHint(payload, allowHint)
	}
	if err != nil {
		var le *packet.LegacyError
		if errors.As(err, &le) {
			hint = k.legacyHint(le.Signer)
		}
		return nil, hint, err
	}
	o = &opened{Opened: po, name: k.names[po.Signer]}
	return o, "", packet.CheckDrift(po.Packet.Timestamp, now, drift)
}

// legacyHint explains a protocol 1 packet from signer i, which is not
// marked Legacy: the likeliest mistake when an original source feeds a new
// sink.
func (k *compiled) legacyHint(i int) string {
	field := "Legacy"
	if k.primary {
		if i > 0 {
			field = fmt.Sprintf("Signers[%d].Legacy", i-1)
		}
	} else {
		field = fmt.Sprintf("Signers[%d].Legacy", i)
	}
	return fmt.Sprintf("protocol 1 (original) packet from signer %q, which is not marked legacy; set %q: true to accept it", k.names[i], field)
}

// accept applies acceptance steps 2 to 8 of PROTOCOL.md to a frame's
// payload: open, drift, the counter's reservation, its durable store (the
// group commit) and the feed. It is the one acceptance path: the TCP
// listener's frames and the payloads POSTed to the HTTPS listener go
// through it, against the same counters, so a packet accepted over one is
// a replay over the other. It counts and logs the outcome (peer and start
// from ctx; see withConn) and returns the status reply, its value, and the
// reason of a rejection. Cancelling ctx does not stop it: a counter once
// reserved is stored and its chunk fed, whether or not anyone still waits
// for the answer.
func (s *Server) accept(ctx context.Context, payload []byte) (packet.Status, int64, error) {
	o, hint, err := s.admit(ctx, payload)
	status, value := packet.ReplyFor(err)
	s.record(connOf(ctx), o, hint, err, status)
	return status, value, err
}

// admit is accept less the bookkeeping.
func (s *Server) admit(ctx context.Context, payload []byte) (*opened, string, error) {
	g := connOf(ctx).gen // the configuration this packet is judged by
	if g == nil {
		g = s.acquire()
		defer g.release()
	}
	o, hint, err := s.check(g, payload)
	if err != nil {
		return o, hint, err
	}
	b, err := s.reserve(g.at[o.Signer], o.Packet.Counter)
	if err != nil {
		return o, "", err
	}
	<-b.done
	if b.err != nil {
		return o, "", b.err
	}
	credited, err := g.pool.Feed(o.Packet.Chunk[:])
	s.settle(b, o.Packet.Chunk[:], err == nil)
	if err != nil {
		return o, "", fmt.Errorf("%w: %v", errFeed, err)
	}
	s.m.fedBytes.Add(packet.ChunkSize)
	s.m.creditedBits.Add(float64(credited))
	return o, "", nil
}

// acceptHTTPS is the HTTPS listener's AcceptFunc: accept, for a request
// that Shutdown waits for. Once the sink is shutting down it answers
// 0x05 (try later) without looking at the payload.
func (s *Server) acceptHTTPS(ctx context.Context, payload []byte) (packet.Status, int64, error) {
	if !s.enter() {
		err := errStopping
		s.record(connOf(ctx), nil, "", err, packet.StatusUnavailable)
		return packet.StatusUnavailable, 0, err
	}
	defer s.wg.Done()
	return s.accept(ctx, payload)
}

// enter counts an HTTPS request's packet in, for Shutdown to wait for,
// unless the server is shutting down; its caller calls s.wg.Done.
func (s *Server) enter() bool {
	s.trackMu.Lock()
	defer s.trackMu.Unlock()
	if s.shutting.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// connInfo is what a log line says of where a payload came from.
type connInfo struct {
	transport string // "tcp" or "https"
	peer      string // the remote address
	client    string // the HTTPS client's name
	start     time.Time
	addr      net.Addr // the remote address, for the log summary (TCP only)
	short     bool     // no whole frame was read
	// gen is the configuration a TCP connection took when it started,
	// which its frame is judged by across a reload; nil: the one in
	// service when the packet is admitted.
	gen *generation
}

type connKey struct{}

// withConn returns ctx carrying c for accept's log line.
func withConn(ctx context.Context, c connInfo) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connOf(ctx context.Context) connInfo {
	c, _ := ctx.Value(connKey{}).(connInfo)
	if c.start.IsZero() {
		c.start = time.Now()
	}
	return c
}
