package harvest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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

// readDevice reads up to n bytes from path (a file, a character device, a
// FIFO), returning early at EOF and giving up when ctx is done. A read the
// kernel will not interrupt is abandoned: its goroutine ends when the read
// does, or when the file is closed under it.
func readDevice(ctx context.Context, path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, n)
		k, err := io.ReadFull(f, buf)
		if err == io.ErrUnexpectedEOF || (err == io.EOF && k == 0) {
			err = nil
		}
		done <- result{buf[:k], err}
	}()
	select {
	case r := <-done:
		f.Close()
		if r.err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, r.err)
		}
		return r.data, nil
	case <-ctx.Done():
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, ctx.Err())
	}
}
