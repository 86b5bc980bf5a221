package harvest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"syscall"
)

// fileSource reads up to n bytes from a regular file (an ADC attribute),
// a character device (a camera) or a named pipe fed by something else,
// under the source time limit (readDevice); any other kind of file is
// refused. Its entropy is whatever the operator assessed (0 unless
// configured).
type fileSource struct {
	name, path string
	n          int
	bits       float64
}

func (s fileSource) Name() string { return s.name }

func (s fileSource) withSamples(n int) entropySource { s.n = n; return s }

func (s fileSource) Read(ctx context.Context) (reading, error) {
	data, err := readDevice(ctx, s.path, s.n)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return reading{}, unavailable("no %s", s.path)
	case errors.Is(err, fs.ErrPermission):
		return reading{}, unavailable("permission denied reading %s", s.path)
	case err != nil:
		return reading{}, err
	}
	return reading{Data: data, BitsPerSample: s.bits, Note: s.path}, nil
}

// commandSource runs a shell command line (/bin/sh -c) and takes up to n
// bytes of its standard output, e.g. `arecord -f S16_LE -d 1 -t raw`. The
// command runs in its own process group; when n bytes have arrived or ctx
// is done the whole group is killed, and WaitDelay stops a grandchild that
// holds the pipe open from stalling the run.
type commandSource struct {
	name, line string
	n          int
	bits       float64
}

func (s commandSource) Name() string { return s.name }

func (s commandSource) withSamples(n int) entropySource { s.n = n; return s }

func (s commandSource) Read(ctx context.Context) (reading, error) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		return reading{}, unavailable("no /bin/sh to run the command")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Kill the group: sh and whatever it started.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = commandWaitDelay
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 512}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return reading{}, err
	}
	if err := cmd.Start(); err != nil {
		return reading{}, unavailable("cannot start: %v", err)
	}
	buf := make([]byte, s.n)
	k, rerr := io.ReadFull(out, buf)
	full := k == s.n
	if full {
		cancel() // enough: stop it now rather than wait for it to finish
	}
	werr := cmd.Wait()
	switch {
	case full:
		// Killed on purpose, or it ended on its own: either way we have n bytes.
	case ctx.Err() != nil && !full:
		if k == 0 {
			return reading{}, fmt.Errorf("killed at its time limit with no output: %w", context.Cause(ctx))
		}
		// Partial output at the deadline is still output.
	case werr != nil:
		return reading{}, fmt.Errorf("command failed: %v%s", werr, stderrNote(stderr.Bytes()))
	case rerr != nil && k == 0:
		return reading{}, fmt.Errorf("command wrote nothing%s", stderrNote(stderr.Bytes()))
	}
	return reading{Data: buf[:k], BitsPerSample: s.bits, Note: "command"}, nil
}

// limitedBuffer keeps the first max bytes written and discards the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// stderrNote quotes the first line of a process's standard error for an
// error message, only when it is short printable text: random bytes a
// confused program wrote there must not reach a log.
func stderrNote(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 || len(b) > 200 {
		return ""
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return fmt.Sprintf(" (stderr: %q)", b)
}
