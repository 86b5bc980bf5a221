package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/entropyshare/entropyshare/internal/cli"
	"golang.org/x/sys/unix"
)

// interruption is the cause a signal gives the context it cancels.
type interruption struct{ sig syscall.Signal }

func (e interruption) Error() string { return "interrupted by " + unix.SignalName(e.sig) }

// code is the exit status a shell gives a process the signal killed.
func (e interruption) code() int { return 128 + int(e.sig) }

// watcher turns SIGINT and SIGTERM into cancellation.
type watcher struct {
	// ctx is the work's context, cancelled with an interruption as its
	// cause by the first signal, or with graceful by the second.
	ctx context.Context
	// stopping is closed by the first signal.
	stopping chan struct{}
	release  func()
}

// watch starts watching for SIGINT and SIGTERM. With graceful (--daemon)
// the first signal only closes stopping, after saying so on stderr, and
// the second cancels ctx. release stops watching.
func (e env) watch(graceful bool, stderr io.Writer) *watcher {
	sigs, stopNotify := e.signals()
	ctx, cancel := context.WithCancelCause(context.Background())
	w := &watcher{ctx: ctx, stopping: make(chan struct{})}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for first := true; ; first = false {
			var sig syscall.Signal
			select {
			case s := <-sigs:
				sig = s.(syscall.Signal)
			case <-done:
				return
			}
			if graceful && first {
				// Written before stopping is closed, so that whoever sees
				// it closed writes after this line.
				fmt.Fprintf(stderr, "entropy-source: %s: stopping after the run in progress (another signal cuts it short)\n", unix.SignalName(sig))
				close(w.stopping)
				continue
			}
			if first {
				close(w.stopping)
			}
			cancel(interruption{sig})
			return
		}
	}()
	w.release = func() {
		stopNotify()
		close(done)
		<-exited
		cancel(nil)
	}
	return w
}

// interrupted turns err into the exit status of a command a signal cut
// short (128 + the signal), if one did and err is not nil.
func (w *watcher) interrupted(err error) error {
	var in interruption
	if err == nil || !errors.As(context.Cause(w.ctx), &in) {
		return err
	}
	return cli.Exit(in.code(), fmt.Errorf("%w: %w", in, err))
}

// notifySignals is env.signals outside tests.
func notifySignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}
