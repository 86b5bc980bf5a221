package sink

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Pool is where entropy goes: the kernel's pool, or a file.
type Pool interface {
	// Feed adds chunk and returns the bits of entropy the kernel
	// credited for it (0 for a file, or when the kernel only mixed it
	// in). It may be called concurrently.
	Feed(chunk []byte) (credited int, err error)
	Close() error
}

// OpenPool opens the pool spec names, in Config.Pool's syntax: "kernel"
// (also when empty), crediting credit bits per Feed, or "file:/path",
// which appends (fsyncing each Feed when sync is set) and credits nothing.
func OpenPool(spec string, credit int, sync bool, logger *slog.Logger) (Pool, error) {
	ps, err := parsePoolSpec(spec)
	if err != nil {
		return nil, err
	}
	ps.sync = sync
	return ps.open(credit, logger)
}

// poolSpec is a parsed Config.Pool.
type poolSpec struct {
	kernel bool
	path   string
	sync   bool
}

// parsePoolSpec reads Config.Pool's syntax.
func parsePoolSpec(s string) (poolSpec, error) {
	switch {
	case s == "" || s == "kernel":
		return poolSpec{kernel: true}, nil
	case strings.HasPrefix(s, "file:") && len(s) > len("file:"):
		return poolSpec{path: strings.TrimPrefix(s, "file:")}, nil
	}
	return poolSpec{}, fieldErr("Pool", "%q, want \"kernel\" or \"file:/path\"", s)
}

func (ps poolSpec) open(credit int, logger *slog.Logger) (Pool, error) {
	if ps.kernel {
		return newKernelPool(credit, logger)
	}
	return openFilePool(ps.path, ps.sync)
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

// Feed appends chunk in one write; it credits nothing.
func (p *filePool) Feed(chunk []byte) (int, error) {
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
