package sink

import (
	"errors"
	"os"

	"github.com/entropyshare/entropyshare/packet"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("sink: server closed")

// Rejections of the sink's own, beside packet's sentinel errors.
var (
	// errStore: the new counter could not be stored; nothing was fed and
	// the counter did not move (reply 0x05).
	errStore = errors.New("sink: could not store the counter")
	// errFeed: the counter was stored but the pool refused the chunk
	// (reply 0x05). The counter stays consumed: a chunk is never fed twice.
	errFeed = errors.New("sink: could not feed the pool")
	// errStopping: a packet POSTed over HTTPS while the sink shuts down
	// (reply 0x05); nothing was checked.
	errStopping = errors.New("sink: shutting down")
)

// reason names the rejection reason of err for logs, metrics and the
// decode command: packet.Reason's names, plus "store", "feed", "stopping",
// "timeout" (the peer did not deliver its frame within its deadlines),
// "replay" (a payload rejected before, replay.go), "evicted" (its slot was
// given to a newcomer) and "empty" (closed before sending a byte). An excess
// connection is counted as "busy" without an error (Server.refuse).
func reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errStore):
		return "store"
	case errors.Is(err, errFeed):
		return "feed"
	case errors.Is(err, errStopping):
		return "stopping"
	case errors.Is(err, errReplay):
		return "replay"
	case errors.Is(err, errEvicted):
		return "evicted"
	case errors.Is(err, errEmpty):
		return "empty"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return packet.Reason(err)
}
