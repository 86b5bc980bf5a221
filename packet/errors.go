package packet

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per rejection reason. Errors returned by this package
// wrap exactly one of them; use errors.Is.
var (
	// ErrDecrypt: the box did not open with the sink's key (wrong recipient,
	// tampered ciphertext, or a low-order ephemeral key).
	ErrDecrypt = errors.New("packet: box does not open")
	// ErrUnsigned: SignedDER carries an empty signature.
	ErrUnsigned = errors.New("packet: packet is unsigned")
	// ErrSignature: no configured signer's key verifies the signature.
	// Deliberately vague, as crypto/rsa's ErrVerification is.
	ErrSignature = errors.New("packet: signature does not verify")
	// ErrMalformed: SignedDER or PacketDER is not the exact DER expected.
	ErrMalformed = errors.New("packet: malformed packet")
	// ErrChunkSize: PacketDER parses but its chunk is not ChunkSize bytes.
	ErrChunkSize = errors.New("packet: wrong chunk size")
	// ErrFrameSize: the frame length is out of bounds, or fewer bytes
	// followed than it announced.
	ErrFrameSize = errors.New("packet: bad frame size")
	// ErrDrift: the timestamp is outside the allowed drift window.
	ErrDrift = errors.New("packet: timestamp outside drift window")
	// ErrCounter: the counter is not above the stored one.
	ErrCounter = errors.New("packet: counter not above stored counter")
)

// DriftError is returned by Check for a timestamp outside the window. It
// carries the sink's clock for the protocol 2 status reply.
type DriftError struct {
	Timestamp, Now, Drift int64
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("packet: timestamp %d is %+d s from now (%d), allowed drift %d s",
		e.Timestamp, e.Timestamp-e.Now, e.Now, e.Drift)
}

func (e *DriftError) Unwrap() error { return ErrDrift }

// CounterError is returned by Check for a counter that does not move
// forward. It carries the stored counter for the protocol 2 status reply.
type CounterError struct {
	Counter, Stored int64
}

func (e *CounterError) Error() string {
	return fmt.Sprintf("packet: counter %d is not above stored counter %d", e.Counter, e.Stored)
}

func (e *CounterError) Unwrap() error { return ErrCounter }

// Reason names the rejection reason of err for logs, metrics and the
// decode command: "decrypt", "unsigned", "signature", "malformed",
// "chunk-size", "frame-size", "drift", "counter", or "other" for an error
// that wraps none of the sentinels.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

var reasons = []struct {
	err    error
	name   string
	status Status
}{
	{ErrDecrypt, "decrypt", StatusUnverified},
	{ErrUnsigned, "unsigned", StatusUnverified},
	{ErrSignature, "signature", StatusUnverified},
	{ErrMalformed, "malformed", StatusMalformed},
	{ErrChunkSize, "chunk-size", StatusMalformed},
	{ErrFrameSize, "frame-size", StatusMalformed},
	{ErrDrift, "drift", StatusDrift},
	{ErrCounter, "counter", StatusCounter},
}
