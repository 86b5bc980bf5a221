package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WriteFrame writes payload with its length prefix in a single Write.
func WriteFrame(w io.Writer, payload []byte) error {
	if len(payload) < MinFrame || len(payload) > MaxFrameLimit {
		return fmt.Errorf("%w: payload is %d bytes, want %d to %d", ErrFrameSize, len(payload), MinFrame, MaxFrameLimit)
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, HeaderSize+len(payload)), uint16(len(payload)))
	_, err := w.Write(append(b, payload...))
	return err
}

// ReadFrame reads one frame and returns its payload. The announced length
// is checked against [MinFrame, max] before anything is allocated; max <= 0
// means DefaultMaxFrame. A frame cut short is an error wrapping both
// ErrFrameSize and io.ErrUnexpectedEOF, never a partial payload; a reader
// at EOF before the first byte gives io.EOF wrapped in ErrFrameSize.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var hdr [HeaderSize]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: length header: read %d of %d bytes: %w", ErrFrameSize, n, HeaderSize, err)
	}
	length := int(binary.BigEndian.Uint16(hdr[:]))
	if length < MinFrame || length > max {
		return nil, fmt.Errorf("%w: frame announces %d bytes, want %d to %d", ErrFrameSize, length, MinFrame, max)
	}
	payload := make([]byte, length)
	if n, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: frame announces %d bytes, read %d: %w", ErrFrameSize, length, n, err)
	}
	return payload, nil
}
