package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// started is an entropy-source process started by startRun.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
}

// startRun starts the built binary with args and returns once the run has
// reserved a counter for the first entry of targets (its Counter went
// from 0 to 1), with the file's bytes then.
func startRun(t *testing.T, targets string, args ...string) (*started, []byte) {
	t.Helper()
	p := &started{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(targets)
		if err == nil {
			ts, err := source.LoadTargets(targets)
			again, _ := os.ReadFile(targets) // the bytes ts came from
			if err == nil && ts.Entries[0].Counter == 1 && bytes.Equal(data, again) {
				// Give the sender time to connect and write.
				time.Sleep(300 * time.Millisecond)
				return p, data
			}
		}
		select {
		case <-p.done:
			t.Fatalf("exited before reserving: %v\n%s\n%s", p.cmd.ProcessState, p.stdout.String(), p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("no reservation within 30s")
	return nil, nil
}

// wait waits for the process to exit and returns its exit code.
func (p *started) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after the signal")
	}
	var ee *exec.ExitError
	if err := p.cmd.Err; err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// signalSetup makes a targets file with one entry for a slow sink (which
// answers after delay), with a stale LastError and Failures from an
// earlier run.
func signalSetup(t *testing.T, delay time.Duration) (dir, targets string, s *sourcetest.Sink) {
	dir = t.TempDir()
	pub := signerPublic(t, dir)
	s = sourcetest.Start(t, sourcetest.Slow, pub, sourcetest.WithDelay(delay))
	targets = filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{
		sourcetest.Entry(s, map[string]any{"Name": "slow", "LastError": "an old error", "Failures": 2}),
	})
	return dir, targets, s
}

// TestInterrupted: SIGINT or SIGTERM during a run's sending prints
// "interrupted", leaves the targets file as the reservation wrote it,
// and exits 128 + the signal.
func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			dir, targets, _ := signalSetup(t, time.Minute)
			p, reserved := startRun(t, targets, "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--sources", "kernel")
			p.cmd.Process.Signal(tc.sig)
			code := p.wait(t)
			out, errs := p.stdout.String(), p.stderr.String()
			if code != tc.code || !strings.Contains(errs, "interrupted") || strings.Contains(out+errs, "FAILED") || strings.Contains(out+errs, "an old error") {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			t.Logf("stderr: %s", errs)
			after, _ := os.ReadFile(targets)
			if !bytes.Equal(after, reserved) {
				t.Errorf("targets file changed after the reservation:\n%s\nwant\n%s", after, reserved)
			}
		})
	}
}

// TestDaemonSIGTERM: with --daemon, SIGTERM lets the run in progress
// finish (the slow sink answers, the outcome is recorded) and exits 0; a
// second signal cuts the run short as in a single run.
func TestDaemonSIGTERM(t *testing.T) {
	t.Run("finishes", func(t *testing.T) {
		dir, targets, s := signalSetup(t, 2*time.Second)
		p, _ := startRun(t, targets, "--daemon", "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--sources", "kernel", "--timeout", "20s")
		p.cmd.Process.Signal(syscall.SIGTERM)
		code := p.wait(t)
		if code != 0 || !strings.Contains(p.stderr.String(), "stopping after the run in progress") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, p.stdout.String(), p.stderr.String())
		}
		ts, err := source.LoadTargets(targets)
		if err != nil {
			t.Fatal(err)
		}
		if tg := ts.Entries[0]; tg.Counter != 1 || tg.LastError != "" || tg.Failures != 0 || tg.Next <= time.Now().Unix() || tg.LastSuccess == 0 || len(s.Accepted()) != 1 {
			t.Errorf("after the run: %+v, sink accepted %v", tg, s.Accepted())
		}
	})
	t.Run("second signal", func(t *testing.T) {
		dir, targets, _ := signalSetup(t, time.Minute)
		p, reserved := startRun(t, targets, "--daemon", "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--sources", "kernel")
		p.cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(200 * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGINT)
		code := p.wait(t)
		if code != 130 || !strings.Contains(p.stderr.String(), "interrupted") {
			t.Errorf("exit %d, want 130\nstdout: %s\nstderr: %s", code, p.stdout.String(), p.stderr.String())
		}
		if after, _ := os.ReadFile(targets); !bytes.Equal(after, reserved) {
			t.Errorf("targets file changed after the reservation:\n%s\nwant\n%s", after, reserved)
		}
	})
}
