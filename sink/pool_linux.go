//go:build linux

package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelPool feeds the kernel's entropy pool: RNDADDENTROPY with a credit
// of Credit bits per chunk, then RNDRESEEDCRNG so the CRNG uses it at once.
// Both need CAP_SYS_ADMIN. Without it (EPERM), or where the ioctl does not
// exist (ENOSYS, ENOTTY: emulators, containers), the pool falls back to
// writing the chunk to /dev/random, which mixes it in without crediting
// it, and says so once in the log.
//
// The kernel's entropy_avail is no health signal (it reads 256 on every
// kernel since 5.18), so nothing here reports it.
type kernelPool struct {
	credit int
	fd     int
	path   string
	ioctl  func(fd int, req uint, arg unsafe.Pointer) error
	logger *slog.Logger

	fallback atomic.Bool
	once     sync.Once
}

// newKernelPool opens /dev/random for the ioctls and the fallback.
func newKernelPool(credit int, logger *slog.Logger) (*kernelPool, error) {
	return openKernelPool(credit, logger, "/dev/random", ioctl)
}

func openKernelPool(credit int, logger *slog.Logger, path string,
	ioctl func(fd int, req uint, arg unsafe.Pointer) error) (*kernelPool, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("sink: kernel pool: open %s: %w", path, err)
	}
	return &kernelPool{credit: credit, fd: fd, path: path, ioctl: ioctl, logger: logger}, nil
}

// ioctl is the raw system call; golang.org/x/sys/unix has the request
// numbers but no helper that passes a pointer.
func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// randPoolInfo encodes struct rand_pool_info from <linux/random.h>:
// int entropy_count (bits); int buf_size (bytes); __u32 buf[].
func randPoolInfo(bits int, chunk []byte) []byte {
	b := make([]byte, 8+len(chunk))
	binary.NativeEndian.PutUint32(b[0:], uint32(int32(bits)))
	binary.NativeEndian.PutUint32(b[4:], uint32(int32(len(chunk))))
	copy(b[8:], chunk)
	return b
}

// fallbackErr reports whether err means "no RNDADDENTROPY for us here".
func fallbackErr(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTTY)
}

// feed adds chunk to the kernel pool and returns its credit, or 0 when
// falling back to a plain write.
func (p *kernelPool) Feed(chunk []byte) (int, error) {
	if !p.fallback.Load() {
		buf := randPoolInfo(p.credit, chunk)
		err := p.ioctl(p.fd, unix.RNDADDENTROPY, unsafe.Pointer(&buf[0]))
		clear(buf)
		if err == nil {
			// Reseeding is an optimisation: the chunk is in the pool either way.
			_ = p.ioctl(p.fd, unix.RNDRESEEDCRNG, nil)
			return p.credit, nil
		}
		if !fallbackErr(err) {
			return 0, fmt.Errorf("sink: kernel pool: RNDADDENTROPY: %w", err)
		}
		p.fallback.Store(true)
		p.once.Do(func() {
			p.logger.Warn("kernel pool: cannot credit entropy; writing chunks to "+p.path+" instead (mixed in, not credited)",
				"error", err.Error(), "hint", "run with CAP_SYS_ADMIN to credit")
		})
	}
	if _, err := unix.Write(p.fd, chunk); err != nil {
		return 0, fmt.Errorf("sink: kernel pool: write %s: %w", p.path, err)
	}
	return 0, nil
}

func (p *kernelPool) Close() error { return unix.Close(p.fd) }
