//go:build !linux

package sink

import (
	"fmt"
	"log/slog"
	"os"
)

// KernelPool writes chunks to /dev/random, which mixes them in without
// crediting them: RNDADDENTROPY is Linux's.
type KernelPool struct{ f *os.File }

// NewKernelPool opens /dev/random. The credit is ignored here.
func NewKernelPool(credit int, logger *slog.Logger) (*KernelPool, error) {
	f, err := os.OpenFile("/dev/random", os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("sink: kernel pool: %w", err)
	}
	if logger != nil {
		logger.Warn("kernel pool: no RNDADDENTROPY on this system; chunks are mixed in, not credited")
	}
	return &KernelPool{f: f}, nil
}

// Feed writes chunk to /dev/random.
func (p *KernelPool) Feed(chunk []byte) error {
	if _, err := p.f.Write(chunk); err != nil {
		return fmt.Errorf("sink: kernel pool: %w", err)
	}
	return nil
}

// CreditedBits is always 0 here.
func (p *KernelPool) CreditedBits() int { return 0 }

// Close closes /dev/random.
func (p *KernelPool) Close() error { return p.f.Close() }
