package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// StatusError is a sink's refusal, from its status reply.
type StatusError struct {
	Status packet.Status
	Value  int64
}

func (e *StatusError) Error() string {
	what := map[packet.Status]string{
		packet.StatusUnverified:  "could not open or verify the packet (wrong Public in the targets file, the sink does not know this signer, or a protocol mismatch)",
		packet.StatusCounter:     fmt.Sprintf("counter not above its stored counter %d", e.Value),
		packet.StatusDrift:       fmt.Sprintf("timestamp outside its drift window (sink clock %d)", e.Value),
		packet.StatusMalformed:   "malformed packet",
		packet.StatusUnavailable: "could not store or feed; try later",
		packet.StatusBusy:        "busy: too many connections",
	}[e.Status]
	if what == "" {
		what = "unknown status"
	}
	return fmt.Sprintf("source: sink replied 0x%02x (%s): %s", byte(e.Status), e.Status, what)
}

// SkewError is a drift refusal (status 0x03): the clocks differ by more
// than the sink allows.
type SkewError struct {
	Sink, Ours int64 // Unix seconds: the sink's clock and our timestamp
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("source: clock skew: sink's clock is %d, our timestamp %d (we are %+d s off); fix the clock of one side",
		e.Sink, e.Ours, e.Ours-e.Sink)
}

func (e *SkewError) Unwrap() error { return packet.ErrDrift }

// CounterJumpError: the sink's reported stored counter is not one we may
// follow (below ours, or more than MaxCounterJump ahead).
type CounterJumpError struct {
	Ours, Stored int64
}

func (e *CounterJumpError) Error() string {
	if e.Stored < e.Ours {
		return fmt.Sprintf("source: sink refused counter %d as not above its stored counter %d, which is below it: not retrying", e.Ours, e.Stored)
	}
	return fmt.Sprintf("source: sink reports stored counter %d, more than %d ahead of ours (%d): not following it", e.Stored, int64(MaxCounterJump), e.Ours)
}

func (e *CounterJumpError) Unwrap() error { return packet.ErrCounter }

// deliver sends one packet to the target of res, and on a counter refusal
// moves the counter up (durably) and sends once more.
//
// The connection is opened, and the box key made, while the packet is
// signed: a dial sends nothing, so it need not wait for the write-ahead,
// and on a hotspot its round trip is as long as a signature on the board;
// the box key needs no packet, and a run to one sink has a core to spare.
func (r *run) deliver(ctx context.Context, res *Result) {
	t := r.target(res.Index)
	counter := res.Counter
	for attempt := 0; ; attempt++ {
		conn := r.dial(ctx, t.Address)
		p := &packet.Packet{Timestamp: r.cfg.Now().Unix(), Counter: counter}
		if err := r.chunks.next(&p.Chunk); err != nil {
			conn.abandon()
			res.Err = err
			return
		}
		r.signing <- struct{}{}
		payload, err := packet.Seal(r.cfg.Rand, p, t.Proto(), r.cfg.Signer, (*[packet.KeySize]byte)(&t.Public))
		<-r.signing
		clear(p.Chunk[:])
		if err != nil {
			conn.abandon()
			res.Err = fmt.Errorf("source: sealing: %w", err)
			return
		}
		// No frame leaves before the counters it uses are on disk.
		select {
		case <-r.walDone:
		case <-ctx.Done():
			conn.abandon()
			res.Err = ctx.Err()
			return
		}
		if r.walErr != nil {
			conn.abandon()
			res.Err = r.walErr
			return
		}
		res.Counter = counter
		status, value, err := r.push(ctx, conn, payload)
		switch {
		case errors.Is(err, io.EOF):
			res.Delivered, res.NoReply = true, true
			return
		case err != nil:
			res.Err = err
			return
		case status == packet.StatusAccepted:
			res.Delivered = true
			return
		case status == packet.StatusCounter && attempt == 0:
			next, err := jump(counter, value)
			if err != nil {
				res.Err = err
				return
			}
			if err := r.reserve(res.Index, next); err != nil {
				res.Err = fmt.Errorf("source: reserving counter %d before the retry (not sent): %w", next, err)
				return
			}
			counter = next
			res.Retried = true
		case status == packet.StatusDrift:
			res.Err = &SkewError{Sink: value, Ours: p.Timestamp}
			return
		default:
			res.Err = &StatusError{Status: status, Value: value}
			return
		}
	}
}

// jump returns the counter to retry with after the sink reported stored.
func jump(ours, stored int64) (int64, error) {
	if stored < ours || stored-ours > MaxCounterJump || stored == math.MaxInt64 {
		return 0, &CounterJumpError{Ours: ours, Stored: stored}
	}
	return stored + 1, nil
}

// pendingConn is a connection being opened in the background.
type pendingConn struct {
	done   chan struct{} // closed once the dial is over
	cancel context.CancelFunc
	conn   net.Conn
	err    error
}

// dial connects to address within DialTimeout, in the background.
func (r *run) dial(ctx context.Context, address string) *pendingConn {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	pc := &pendingConn{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(pc.done)
		defer cancel()
		pc.conn, pc.err = r.cfg.Dial(dctx, "tcp", address)
	}()
	return pc
}

// wait returns the connection once the dial is over.
func (pc *pendingConn) wait() (net.Conn, error) {
	<-pc.done
	return pc.conn, pc.err
}

// abandon stops the dial, or closes the connection it made, unused, and
// erases a box key not used.
func (pc *pendingConn) abandon() {
	pc.cancel()
	if c, err := pc.wait(); err == nil {
		c.Close()
	}
}

// push writes one frame on the connection being opened and reads the
// status reply. io.EOF (unwrapped) means the sink closed without replying.
func (r *run) push(ctx context.Context, pc *pendingConn, payload []byte) (packet.Status, int64, error) {
	conn, err := pc.wait()
	if err != nil {
		return 0, 0, fmt.Errorf("source: connecting: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(r.cfg.IOTimeout)); err != nil {
		return 0, 0, fmt.Errorf("source: %w", err)
	}
	if err := packet.WriteFrame(conn, payload); err != nil {
		return 0, 0, fmt.Errorf("source: sending: %w", r.ctxErr(ctx, err))
	}
	status, value, err := packet.ReadStatus(conn)
	if err == io.EOF {
		return 0, 0, io.EOF
	}
	if err != nil {
		return 0, 0, fmt.Errorf("source: reading the reply: %w", r.ctxErr(ctx, err))
	}
	return status, value, nil
}

// ctxErr prefers the context's error to the deadline it caused.
func (r *run) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
