package sink

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// Pool is where accepted chunks go.
type Pool interface {
	// Feed adds one accepted chunk. It may be called concurrently.
	Feed(chunk []byte) error
}

// creditor is implemented by pools that credit entropy; the sink counts
// the bits for its metrics.
type creditor interface {
	// CreditedBits is the number of bits the last successful Feed credited.
	CreditedBits() int
}

// OpenPool opens the pool cfg names: the kernel's, or a file.
func OpenPool(cfg *Config, logger *slog.Logger) (Pool, error) {
	k, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	return openPool(k, logger)
}

func openPool(k *compiled, logger *slog.Logger) (Pool, error) {
	if k.pool.kernel {
		return NewKernelPool(k.credit, logger)
	}
	return OpenFilePool(k.pool.path, k.pool.sync)
}

// FilePool appends each chunk to a file: for tests, demonstrations, and
// feeding something other than the kernel.
type FilePool struct {
	mu   sync.Mutex
	f    *os.File
	sync bool
}

// OpenFilePool opens (creating, mode 0600) the file at path for appending.
// With sync, every chunk is fsynced before Feed returns.
func OpenFilePool(path string, sync bool) (*FilePool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sink: file pool: %w", err)
	}
	return &FilePool{f: f, sync: sync}, nil
}

// Feed appends chunk in one write.
func (p *FilePool) Feed(chunk []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.f.Write(chunk); err != nil {
		return fmt.Errorf("sink: file pool: %w", err)
	}
	if p.sync {
		if err := p.f.Sync(); err != nil {
			return fmt.Errorf("sink: file pool: %w", err)
		}
	}
	return nil
}

// Close closes the file.
func (p *FilePool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f.Close()
}
