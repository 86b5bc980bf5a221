// Package tpmtest runs swtpm, a software TPM 2.0 (Debian's swtpm
// package), on 127.0.0.1 for tests.
package tpmtest

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// Simulator is a running swtpm.
type Simulator struct {
	// Device is what internal/tpm opens: tcp://127.0.0.1:PORT.
	Device string
	// StateDir holds the TPM's state (its seeds, persistent objects).
	StateDir string

	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer
}

// RequireTool is testtool.Require: it finds an external tool, or skips
// the test when it is missing (fails it under ENTROPYSHARE_TOOLS=required).
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	return testtool.Require(tb, name)
}

// Start runs swtpm with a new state in a temporary folder, on a free
// port; t.Cleanup stops it.
func Start(tb testing.TB) *Simulator {
	tb.Helper()
	return StartState(tb, tb.TempDir())
}

// StartState runs swtpm on the TPM state in dir (made by an earlier
// Simulator, or empty for a new TPM); t.Cleanup stops it.
func StartState(tb testing.TB, dir string) *Simulator {
	tb.Helper()
	RequireTool(tb, "swtpm")
	s := &Simulator{StateDir: dir}
	tb.Cleanup(s.Stop)
	var err error
	for range 5 { // a port found free may be taken before swtpm binds it
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatalf("starting swtpm: %v", err)
	return nil
}

// Restart stops swtpm and starts it again on the same port and state: a
// reboot of the machine, as far as the TPM can tell.
func (s *Simulator) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	var err error
	for range 20 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("restarting swtpm: %v", err)
}

func (s *Simulator) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Device = "tcp://127.0.0.1:" + strconv.Itoa(s.port)
	s.log.Reset()
	// startup-clear: swtpm powers the TPM on and sends TPM2_Startup
	// itself, as a machine's firmware does, so a client sends only
	// commands. The control port, PORT+1, is for tpm2-tools' swtpm TCTI
	// (TPM2TOOLS_TCTI, see TCTI); internal/tpm does not use it.
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.port+1),
		"--tpmstate", "dir="+s.StateDir,
		"--flags", "not-need-init,startup-clear")
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("swtpm exited: %s: %s", cmd.ProcessState, bytes.TrimSpace(s.log.Bytes()))
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			s.cmd, s.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("swtpm did not listen on port %d: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops swtpm (SIGTERM, then SIGKILL after 5 s) and waits for it.
// The state folder stays. Stopping a stopped Simulator does nothing.
func (s *Simulator) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// TCTI is the TPM2TOOLS_TCTI value that points tpm2-tools at s.
func (s *Simulator) TCTI() string {
	return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", s.port)
}

// freePort finds a port PORT such that PORT and PORT+1 are free.
func freePort() (int, error) {
	var err error
	for range 20 {
		var l, l2 net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, err
}
