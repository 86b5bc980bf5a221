package source

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/entropyshare/entropyshare/packet"
)

// A Harvester gathers entropy and returns a seeded generator to draw
// chunks from. A run calls it once, and only when some target is due. An
// error that wraps ErrInsufficient means the health tests did not pass
// enough entropy: the run sends nothing.
//
// The generator need not be safe for concurrent use: a run draws from it
// under its own lock.
type Harvester func(ctx context.Context) (io.Reader, error)

// chunks hands out distinct chunks of one generator to concurrent senders.
type chunks struct {
	mu sync.Mutex
	r  io.Reader
}

func (c *chunks) next(dst *[packet.ChunkSize]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.ReadFull(c.r, dst[:]); err != nil {
		return fmt.Errorf("reading the generator: %w", err)
	}
	return nil
}
