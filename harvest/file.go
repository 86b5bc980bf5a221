package harvest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

// fileKinds is a set of the kinds of file a path may name.
type fileKinds uint8

const (
	regularFile fileKinds = 1 << iota
	charDevice
	namedPipe
)

func (k fileKinds) String() string {
	var names []string
	for _, n := range []struct {
		k    fileKinds
		name string
	}{{regularFile, "a regular file"}, {charDevice, "a character device"}, {namedPipe, "a named pipe"}} {
		if k&n.k != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return strings.Join(names, "")
}

// kindOf returns the one kind mode is, or 0 for any other.
func kindOf(mode fs.FileMode) fileKinds {
	switch {
	case mode.IsRegular():
		return regularFile
	case mode&fs.ModeCharDevice != 0:
		return charDevice
	case mode&fs.ModeNamedPipe != 0:
		return namedPipe
	}
	return 0
}

// kindError: a path names a file of a kind that cannot be used there. It
// unwraps to ErrConfig: the path is a mistake to fix.
type kindError struct {
	Path string
	Mode fs.FileMode
	Want fileKinds
}

func (e *kindError) Error() string {
	var is string
	switch m := e.Mode; {
	case m.IsRegular():
		is = "a regular file"
	case m&fs.ModeCharDevice != 0:
		is = "a character device"
	case m&fs.ModeNamedPipe != 0:
		is = "a named pipe"
	case m.IsDir():
		is = "a directory"
	case m&fs.ModeDevice != 0:
		is = "a block device"
	case m&fs.ModeSocket != 0:
		is = "a socket"
	default:
		is = "not a regular file"
	}
	if !strings.HasPrefix(is, "not ") {
		is = "is " + is
	}
	return fmt.Sprintf("%s: %s; want %s", e.Path, is, e.Want)
}

func (e *kindError) Unwrap() error { return ErrConfig }

// openRead opens path for reading, of one of the kinds in want. It opens
// with O_NONBLOCK, since opening a named pipe that has no writer would
// otherwise wait for one past every time limit and signal, and checks
// the kind on the descriptor, not the path. The descriptor stays
// non-blocking: a caller that reads a pollable file (a named pipe, most
// character devices) gets deadlines from it; for the others see
// readDevice.
func openRead(path string, want fileKinds) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if kindOf(st.Mode())&want == 0 {
		f.Close()
		return nil, &kindError{Path: path, Mode: st.Mode(), Want: want}
	}
	return f, nil
}

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
	f, err := openRead(path, regularFile|charDevice|namedPipe)
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
		data, err := readPolled(ctx, f, n, kindOf(st.Mode()) == namedPipe)
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
