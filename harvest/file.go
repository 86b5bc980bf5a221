package harvest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

// openRead opens path for reading, of one of the kinds in want, with
// privfile.OpenKind: without waiting for a writer to a named pipe, and
// checking the kind on the descriptor. The descriptor stays
// non-blocking: a caller that reads a pollable file (a named pipe, most
// character devices) gets deadlines from it; for the others see
// readDevice. A file of another kind is a *kindError.
func openRead(path string, want privfile.Kinds) (*os.File, error) {
	f, err := privfile.OpenKind(path, want)
	var pe *fs.PathError
	if errors.Is(err, privfile.ErrNotRegular) && errors.As(err, &pe) {
		return nil, &kindError{pe}
	}
	return f, err
}

// kindError: a path names a file of a kind that cannot be used there,
// "PATH: is a named pipe; want a regular file". It unwraps to ErrConfig
// as well as to privfile's error: the path is a mistake to fix.
type kindError struct{ err *fs.PathError }

func (e *kindError) Error() string { return e.err.Path + ": " + e.err.Err.Error() }

func (e *kindError) Unwrap() []error { return []error{e.err, ErrConfig} }

// readDevice reads up to n bytes from path: a regular file, a character
// device or a named pipe (a FIFO another program feeds). It returns
// early at EOF, except that a named pipe that reads EOF before any data
// has no writer yet and is waited on. When ctx is done it gives up: with
// what it has if it has something and ctx ran out of time, else with an
// error.
//
// A named pipe and a device the kernel can poll are read under a
// deadline, from ctx. Anything else (a regular file, a device like
// /dev/hwrng that cannot be polled) is read by a goroutine, blocking; a
// read that outlives ctx is abandoned, and its goroutine closes the file
// when the read ends.
func readDevice(ctx context.Context, path string, n int) ([]byte, error) {
	f, err := openRead(path, privfile.Regular|privfile.CharDevice|privfile.NamedPipe)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline() // the zero time, none, without one
	if err := f.SetReadDeadline(deadline); err == nil {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		data, err := readPolled(ctx, f, n, st.Mode()&fs.ModeNamedPipe != 0)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		return data, nil
	} else if !errors.Is(err, os.ErrNoDeadline) {
		f.Close()
		return nil, err
	}

	// Not pollable: the read blocks (a device such as /dev/hwrng would
	// answer EAGAIN to a non-blocking one).
	if err := setBlocking(f); err != nil {
		f.Close()
		return nil, err
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Closed here, after the read: Close waits for a read in
		// progress on a file that cannot be polled.
		defer f.Close()
		buf := make([]byte, n)
		k, err := io.ReadFull(f, buf)
		if err == io.ErrUnexpectedEOF || (err == io.EOF && k == 0) {
			err = nil
		}
		done <- result{buf[:k], err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, r.err)
		}
		return r.data, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("reading %s: %w", path, ctx.Err())
	}
}

// readPolled reads up to n bytes from f, whose read deadline is set,
// and ends the read when ctx is done. waitForWriter: EOF before any data
// means no writer yet (a named pipe), not the end.
func readPolled(ctx context.Context, f *os.File, n int, waitForWriter bool) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	k := 0
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for k < n {
			m, err := syscall.Read(int(fd), buf[k:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // wait until there is something to read
			case err != nil:
				rerr = err
				return true
			case m == 0: // EOF
				return !waitForWriter || k > 0
			}
			k += m
		}
		return true
	})
	switch {
	case rerr != nil:
		return nil, rerr
	case ctx.Err() == context.Canceled:
		return nil, ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded) && k > 0:
		return buf[:k], nil // what arrived in time is still data
	case errors.Is(err, os.ErrDeadlineExceeded) && waitForWriter:
		return nil, fmt.Errorf("nothing was written to the named pipe before the time limit: %w", context.DeadlineExceeded)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, context.DeadlineExceeded
	case err != nil:
		return nil, err
	}
	return buf[:k], nil
}

// setBlocking clears f's O_NONBLOCK.
func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
