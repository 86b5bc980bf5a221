package harvest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// within runs f and fails the test if it has not returned after limit
// (f is then left running): a blocked open would otherwise hang the test
// binary until its own timeout.
func within(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("still blocked after %s", limit)
	}
}

// TestFIFONoWriter: a named pipe nobody writes to is refused at once as
// a seed file or a plugin, and as a file source is read until the source
// times out; none of them blocks in open.
func TestFIFONoWriter(t *testing.T) {
	fifo := testtool.Fifo(t, "fifo")
	within(t, 10*time.Second, func() {
		_, err := readSeedFile(fifo)
		want := "harvest: reading seed file: " + fifo + ": is a named pipe; want a regular file"
		if err == nil || err.Error() != want || !errors.Is(err, ErrConfig) {
			t.Errorf("seed file: got %v, want %q", err, want)
		}
		if err := CheckSeedFile(fifo); err == nil || err.Error() != want {
			t.Errorf("CheckSeedFile: got %v", err)
		}
	})
	within(t, 10*time.Second, func() {
		p := &pluginSource{name: "p", path: fifo, n: 16, pages: 16, timeout: time.Second}
		_, err := p.Read(context.Background())
		if want := fifo + ": is a named pipe; want a regular file"; err == nil || err.Error() != want {
			t.Errorf("plugin: got %v, want %q", err, want)
		}
	})
	within(t, 10*time.Second, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := fileSource{name: "f", path: fifo, n: 16}.Read(ctx)
		t.Logf("file source, no writer: %v after %s", err, time.Since(start).Round(time.Millisecond))
		want := "reading " + fifo + ": nothing was written to the named pipe before the time limit: context deadline exceeded"
		if err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("file source: got %v, want %q", err, want)
		}
	})
	within(t, 10*time.Second, func() { // the run's end (SIGTERM) ends the wait too
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		if _, err := (fileSource{name: "f", path: fifo, n: 16}).Read(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("file source, canceled: got %v", err)
		}
	})
}

// TestFIFOWriter: a file source that is a named pipe reads what its
// writer sends, whether the writer came before the read or after, up to
// the bytes asked for, or until the writer closes.
func TestFIFOWriter(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 20) // 320 bytes
	for _, tc := range []struct {
		name  string
		delay time.Duration // before the writer opens
		write []byte
		want  []byte
	}{
		{"late writer, more than asked", 200 * time.Millisecond, data, data[:fileBytes]},
		{"late writer, fewer and closes", 200 * time.Millisecond, data[:10], data[:10]},
		{"writer first", 0, data[:100], data[:100]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := testtool.Fifo(t, "fifo")
			wrote := make(chan error, 1)
			go func() {
				time.Sleep(tc.delay)
				// Blocks until the reader has opened (so "writer first"
				// writes as soon as the read side exists).
				w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err != nil {
					wrote <- err
					return
				}
				_, err = w.Write(tc.write)
				w.Close()
				wrote <- err
			}()
			within(t, 10*time.Second, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				r, err := fileSource{name: "f", path: fifo, n: fileBytes}.Read(ctx)
				if err != nil || !bytes.Equal(r.Data, tc.want) {
					t.Errorf("got %q, %v; want %q", r.Data, err, tc.want)
				}
			})
			if err := <-wrote; err != nil && !errors.Is(err, syscall.EPIPE) {
				t.Error(err)
			}
		})
	}
}

// TestFIFOPartial: what a writer that stays open sent before the time
// limit is the reading.
func TestFIFOPartial(t *testing.T) {
	fifo := testtool.Fifo(t, "fifo")
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		w.Write([]byte("0123456789"))
		time.Sleep(2 * time.Second)
	}()
	within(t, 10*time.Second, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		r, err := fileSource{name: "f", path: fifo, n: fileBytes}.Read(ctx)
		if err != nil || string(r.Data) != "0123456789" {
			t.Errorf("got %q, %v", r.Data, err)
		}
	})
}

// TestFileKinds: a file source reads regular files and character
// devices, pollable (/dev/random) or not (/dev/zero), and refuses
// anything else by name.
func TestFileKinds(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "f")
	if err := os.WriteFile(regular, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for path, want := range map[string]int{regular: 5, "/dev/null": 0, "/dev/urandom": fileBytes, "/dev/random": fileBytes, "/dev/zero": fileBytes} {
		r, err := fileSource{name: "f", path: path, n: fileBytes}.Read(ctx)
		if err != nil || len(r.Data) != want {
			t.Errorf("%s: %d bytes, %v; want %d", path, len(r.Data), err, want)
		}
	}
	_, err := fileSource{name: "f", path: dir, n: fileBytes}.Read(ctx)
	if want := dir + ": is a directory; want a regular file, a character device or a named pipe"; err == nil || err.Error() != want {
		t.Errorf("directory: got %v, want %q", err, want)
	}
	for _, dev := range []string{"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1"} {
		if st, err := os.Stat(dev); err != nil || st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
			continue
		}
		_, err := fileSource{name: "f", path: dev, n: fileBytes}.Read(ctx)
		if err == nil || !strings.Contains(err.Error(), "is a block device;") {
			t.Errorf("%s: got %v", dev, err)
		}
		break
	}
}

// TestHarvestFIFOSource: in a whole harvest, a named pipe with no writer
// costs its source's time limit and is reported; the run goes on.
func TestHarvestFIFOSource(t *testing.T) {
	fifo := testtool.Fifo(t, "pipe")
	h := harvester{cfg: Config{Files: []string{fifo}, SourceTimeout: 300 * time.Millisecond, MinBits: 8},
		sources: []entropySource{fakeSource{name: "ok", data: randBytes(64), bits: 8}}}
	within(t, 10*time.Second, func() {
		_, rep, err := h.harvest(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.sources {
			if s.Name == "file:pipe" && (s.Err == nil || !strings.HasPrefix(s.Err.Error(), "harvest: file:pipe: reading "+fifo+": nothing was written")) {
				t.Errorf("file:pipe: %v", s.Err)
			}
		}
	})
}
