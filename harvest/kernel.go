package harvest

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// kernelSource reads the kernel's generator with getrandom(2). It asks
// with GRND_NONBLOCK, so a board early in boot whose CRNG is not yet
// initialised reports itself unavailable instead of stalling the run.
type kernelSource struct {
	n int
}

func (kernelSource) Name() string { return "kernel" }

func (s kernelSource) withSamples(n int) entropySource { s.n = n; return s }

func (s kernelSource) Read(ctx context.Context) (reading, error) {
	buf := make([]byte, s.n)
	for off := 0; off < len(buf); {
		if err := ctx.Err(); err != nil {
			return reading{}, err
		}
		n, err := unix.Getrandom(buf[off:], unix.GRND_NONBLOCK)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return reading{}, unavailable("the kernel generator is not initialised yet")
		case errors.Is(err, unix.ENOSYS):
			return reading{}, unavailable("getrandom is not supported by this kernel")
		case err != nil:
			return reading{}, fmt.Errorf("getrandom: %w", err)
		}
		off += n
	}
	return reading{Data: buf, BitsPerSample: kernelBitsPerByte, Note: "getrandom"}, nil
}
