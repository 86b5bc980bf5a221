package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Status is the first byte of a protocol 2 sink's reply.
type Status byte

// Status replies, as in PROTOCOL.md's table.
const (
	StatusAccepted    Status = 0x00 // accepted
	StatusUnverified  Status = 0x01 // could not open or verify
	StatusCounter     Status = 0x02 // counter not above the stored one; stored counter follows
	StatusDrift       Status = 0x03 // timestamp outside the window; sink clock follows
	StatusMalformed   Status = 0x04 // ASN.1, chunk length or frame length wrong
	StatusUnavailable Status = 0x05 // sink could not store or feed; try later
	StatusBusy        Status = 0x06 // too many connections
)

func (s Status) String() string {
	switch s {
	case StatusAccepted:
		return "accepted"
	case StatusUnverified:
		return "unverified"
	case StatusCounter:
		return "counter"
	case StatusDrift:
		return "drift"
	case StatusMalformed:
		return "malformed"
	case StatusUnavailable:
		return "unavailable"
	case StatusBusy:
		return "busy"
	}
	return fmt.Sprintf("status(0x%02x)", byte(s))
}

// HasValue reports whether s is followed by a big-endian int64.
func (s Status) HasValue() bool { return s == StatusCounter || s == StatusDrift }

// statusOf maps an error from Open, ReadFrame or Check to the reply a sink
// sends for it; errors wrapping no sentinel map to StatusUnavailable.
func statusOf(err error) Status {
	if err == nil {
		return StatusAccepted
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.status
		}
	}
	return StatusUnavailable
}

// ReplyFor returns the status and value a sink sends for err: the stored
// counter for a CounterError, the sink's clock for a DriftError.
func ReplyFor(err error) (Status, int64) {
	var ce *CounterError
	if errors.As(err, &ce) {
		return StatusCounter, ce.Stored
	}
	var de *DriftError
	if errors.As(err, &de) {
		return StatusDrift, de.Now
	}
	return statusOf(err), 0
}

// WriteStatus writes a status reply: one byte, then value as a big-endian
// int64 when the status carries one.
func WriteStatus(w io.Writer, s Status, value int64) error {
	var buf [9]byte
	buf[0] = byte(s)
	n := 1
	if s.HasValue() {
		binary.BigEndian.PutUint64(buf[1:], uint64(value))
		n = 9
	}
	_, err := w.Write(buf[:n])
	return err
}

// ReadStatus reads a status reply. It returns io.EOF, unwrapped, when the
// peer closed without replying: an original (protocol 1) sink, which a
// source treats as delivered.
func ReadStatus(r io.Reader) (Status, int64, error) {
	var buf [9]byte
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return 0, 0, err
	}
	s := Status(buf[0])
	if s > StatusBusy {
		return s, 0, fmt.Errorf("packet: unknown status byte 0x%02x", buf[0])
	}
	if !s.HasValue() {
		return s, 0, nil
	}
	if _, err := io.ReadFull(r, buf[1:]); err != nil {
		return s, 0, fmt.Errorf("packet: status %s without its value: %w", s, io.ErrUnexpectedEOF)
	}
	return s, int64(binary.BigEndian.Uint64(buf[1:])), nil
}
