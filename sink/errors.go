package sink

import (
	"errors"
	"os"

	"github.com/entropyshare/entropyshare/packet"
)

// Rejections of the sink's own, beside packet's sentinel errors.
var (
	// ErrStore: the new counter could not be stored; nothing was fed and
	// the counter did not move (reply 0x05).
	ErrStore = errors.New("sink: could not store the counter")
	// ErrFeed: the counter was stored but the pool refused the chunk
	// (reply 0x05). The counter stays consumed: a chunk is never fed twice.
	ErrFeed = errors.New("sink: could not feed the pool")
	// ErrBusy: too many connections (reply 0x06).
	ErrBusy = errors.New("sink: too many connections")
	// ErrServerClosed is returned by Serve after Shutdown.
	ErrServerClosed = errors.New("sink: server closed")
)

// Reason names the rejection reason of err for logs, metrics and the
// decode command: packet.Reason's names, plus "store", "feed", "busy" and
// "timeout" (the peer did not deliver its frame within the read deadline).
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrStore):
		return "store"
	case errors.Is(err, ErrFeed):
		return "feed"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return packet.Reason(err)
}

// replyFor is the status reply for err.
func replyFor(err error) (packet.Status, int64) {
	if errors.Is(err, ErrBusy) {
		return packet.StatusBusy, 0
	}
	return packet.ReplyFor(err)
}
