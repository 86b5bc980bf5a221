package harvest

import (
	"context"
	"errors"
	"io/fs"
)

// hwrngSource reads the kernel's hardware generator device (/dev/hwrng:
// omap-rng on the AM335x). No device, or no permission to read it (it is
// root-only on most systems), makes it unavailable, not an error.
type hwrngSource struct {
	path string
	n    int
}

func (hwrngSource) Name() string { return "hwrng" }

func (s hwrngSource) withSamples(n int) entropySource { s.n = n; return s }

func (s hwrngSource) Read(ctx context.Context) (reading, error) {
	data, err := readDevice(ctx, s.path, s.n)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return reading{}, unavailable("no %s", s.path)
	case errors.Is(err, fs.ErrPermission):
		return reading{}, unavailable("permission denied reading %s (root only?)", s.path)
	case err != nil:
		return reading{}, err
	}
	return reading{Data: data, BitsPerSample: hwrngBitsPerByte, Note: s.path}, nil
}
