package sink

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// pool is where accepted chunks go.
type pool interface {
	// feed adds one accepted chunk and returns the bits of entropy it
	// credited. It may be called concurrently.
	feed(chunk []byte) (credited int, err error)
}

// openPool opens the pool the configuration names: the kernel's, or a file.
func openPool(k *compiled, logger *slog.Logger) (pool, error) {
	if k.pool.kernel {
		return newKernelPool(k.credit, logger)
	}
	return openFilePool(k.pool.path, k.pool.sync)
}

// filePool appends each chunk to a file: for tests, demonstrations, and
// feeding something other than the kernel.
type filePool struct {
	mu   sync.Mutex
	f    *os.File
	sync bool
}

// openFilePool opens (creating, mode 0600) the file at path for appending.
// With sync, every chunk is fsynced before feed returns.
func openFilePool(path string, sync bool) (*filePool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sink: file pool: %w", err)
	}
	return &filePool{f: f, sync: sync}, nil
}

// feed appends chunk in one write; it credits nothing.
func (p *filePool) feed(chunk []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.f.Write(chunk); err != nil {
		return 0, fmt.Errorf("sink: file pool: %w", err)
	}
	if p.sync {
		if err := p.f.Sync(); err != nil {
			return 0, fmt.Errorf("sink: file pool: %w", err)
		}
	}
	return 0, nil
}

func (p *filePool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f.Close()
}
