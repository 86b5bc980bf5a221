package source

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// statusError is a sink's refusal, from its status reply.
type statusError struct {
	Status packet.Status
	Value  int64
}

func (e *statusError) Error() string {
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
	return fmt.Sprintf("sink replied 0x%02x (%s): %s", byte(e.Status), e.Status, what)
}

// errNoReply: a protocol 2 target's sink closed without a status reply.
// Every sink that speaks protocol 2 replies; an original sink never does,
// and cannot verify protocol 2, so nothing says the packet was accepted.
var errNoReply = errors.New(`no status reply: if this sink runs the original entropyshare, mark the target "Protocol": 1`)

// skewError is a drift refusal (status 0x03): the clocks differ by more
// than the sink allows.
type skewError struct {
	Sink, Ours int64 // Unix seconds: the sink's clock and our timestamp
}

func (e *skewError) Error() string {
	return fmt.Sprintf("clock skew: sink's clock is %d, our timestamp %d (we are %+d s off); fix the clock of one side",
		e.Sink, e.Ours, e.Ours-e.Sink)
}

func (e *skewError) Unwrap() error { return packet.ErrDrift }

// counterJumpError: the sink's reported stored counter is not one we may
// follow (below ours, or more than maxCounterJump ahead).
type counterJumpError struct {
	Ours, Stored int64
}

func (e *counterJumpError) Error() string {
	if e.Stored < e.Ours {
		return fmt.Sprintf("sink refused counter %d as not above its stored counter %d, which is below it: not retrying", e.Ours, e.Stored)
	}
	return fmt.Sprintf("sink reports stored counter %d, more than %d ahead of ours (%d): not following it", e.Stored, int64(maxCounterJump), e.Ours)
}

func (e *counterJumpError) Unwrap() error { return packet.ErrCounter }

// deliver sends one packet to the target of res, and on a counter refusal
// moves the counter up, reserves it durably and sends once more.
func (r *run) deliver(ctx context.Context, res *Result) {
	t := r.ts.Entries[res.index]
	for attempt := 0; ; attempt++ {
		p := &packet.Packet{Timestamp: r.cfg.now().Unix(), Counter: res.Counter}
		status, value, err := r.send(ctx, t, p, res)
		switch {
		case err == io.EOF && t.Proto() == packet.Protocol2:
			// An original sink closes without a reply whether it accepted
			// or refused, and it refuses every protocol 2 packet.
			res.NoReply, res.err = true, errNoReply
		case err == io.EOF: // not wrapped: the sink closed without a reply, as an original sink does
			res.Delivered, res.NoReply = true, true
		case err != nil:
			res.err = err
		case status == packet.StatusAccepted:
			res.Delivered = true
		case status == packet.StatusCounter && attempt == 0:
			next, err := jump(res.Counter, value)
			if err != nil {
				res.err = err
				return
			}
			if err := r.reserve(res.index, next); err != nil {
				res.err = fmt.Errorf("reserving counter %d before the retry (not sent): %w", next, err)
				return
			}
			res.Counter, res.Retried = next, true
			continue
		case status == packet.StatusDrift:
			res.err = &skewError{Sink: value, Ours: p.Timestamp}
		default:
			res.err = &statusError{Status: status, Value: value}
		}
		return
	}
}

// dial connects to host:port within DialTimeout and gives the whole
// exchange that follows IOTimeout; when ctx is done the connection's
// deadline passes at once. done ends the watch on ctx and closes the
// connection.
func (r *run) dial(ctx context.Context, hostport string) (conn net.Conn, done func(), err error) {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", hostport)
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("connecting: %w", ctxErr(ctx, err))
	}
	if err := conn.SetDeadline(time.Now().Add(r.cfg.IOTimeout)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); conn.Close() }, nil
}

// jump returns the counter to retry with after the sink reported stored.
func jump(ours, stored int64) (int64, error) {
	if stored < ours || stored-ours > maxCounterJump || stored == math.MaxInt64 {
		return 0, &counterJumpError{Ours: ours, Stored: stored}
	}
	return stored + 1, nil
}

// send signs and seals p, with a fresh chunk, to t, connects, writes the
// frame and reads the status reply; an https:// target is POSTed the
// payload instead (post). io.EOF (unwrapped) means the sink closed without
// replying.
func (r *run) send(ctx context.Context, t *Target, p *packet.Packet, res *Result) (packet.Status, int64, error) {
	if err := r.chunks.next(&p.Chunk); err != nil {
		return 0, 0, err
	}
	payload, err := packet.Seal(rand.Reader, p, t.Proto(), r.cfg.Signer, (*[packet.KeySize]byte)(&t.Public))
	clear(p.Chunk[:])
	if err != nil {
		return 0, 0, fmt.Errorf("sealing: %w", err)
	}
	if t.HTTPS() {
		return r.post(ctx, t, res.tls, payload, res)
	}
	conn, done, err := r.dial(ctx, t.Address)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	if err := packet.WriteFrame(conn, payload); err != nil {
		return 0, 0, fmt.Errorf("sending: %w", ctxErr(ctx, err))
	}
	status, value, err := packet.ReadStatus(conn)
	if err == io.EOF {
		return 0, 0, io.EOF
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading the reply: %w", ctxErr(ctx, err))
	}
	return status, value, nil
}

// ctxErr prefers the context's error to the deadline it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
