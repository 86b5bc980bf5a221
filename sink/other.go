//go:build !linux

package sink

import (
	"fmt"
	"log/slog"
	"os"
)

// Off Linux there is no RNDADDENTROPY and no fdatasync.

// kernelPool writes chunks to /dev/random, which mixes them in without
// crediting them.
type kernelPool struct{ f *os.File }

// newKernelPool opens /dev/random. The credit is ignored here.
func newKernelPool(credit int, logger *slog.Logger) (*kernelPool, error) {
	f, err := os.OpenFile("/dev/random", os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("sink: kernel pool: %w", err)
	}
	if logger != nil {
		logger.Warn("kernel pool: no RNDADDENTROPY on this system; chunks are mixed in, not credited")
	}
	return &kernelPool{f: f}, nil
}

// feed writes chunk to /dev/random and credits nothing.
func (p *kernelPool) feed(chunk []byte) (int, error) {
	if _, err := p.f.Write(chunk); err != nil {
		return 0, fmt.Errorf("sink: kernel pool: %w", err)
	}
	return 0, nil
}

func (p *kernelPool) Close() error { return p.f.Close() }

func syncData(f *os.File) error { return f.Sync() }
