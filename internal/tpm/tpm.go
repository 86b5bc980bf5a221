// Package tpm keeps an entropy source's RSA signer key inside a TPM 2.0
// and reads the TPM's random number generator.
package tpm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// Defaults.
const (
	// DefaultDevice is the kernel's TPM 2.0 resource manager: several
	// processes may have it open at once, and it flushes what a process
	// leaves loaded.
	DefaultDevice = "/dev/tpmrm0"
	// DefaultHandle is where rsagen --tpm makes the signer key persistent:
	// the owner's range, away from the TCG's registry of well-known handles
	// (0x81000000 to 0x810000ff: storage root keys and the like).
	DefaultHandle uint32 = 0x81000100
)

// Owner persistent handles (TPM 2.0 Part 2, 7.5 and the TCG's handle
// registry): the range TPM2_EvictControl with the owner's authorisation
// may use.
const (
	minOwnerPersistent uint32 = 0x81000000
	maxOwnerPersistent uint32 = 0x817fffff
)

// TPM is an open connection to a TPM. Its methods may be called from
// several goroutines: they take turns, as the TPM executes one command at
// a time.
type TPM struct {
	device string
	mu     sync.Mutex
	t      transport.TPMCloser
	broken error // set when a command was abandoned: the connection is closed
}

// Open connects to the TPM at device: a character device (/dev/tpmrm0,
// /dev/tpm0) or tcp://HOST:PORT, the command port of a TPM simulator that
// speaks the Microsoft simulator's TCP protocol and is already started up
// (swtpm socket --tpm2 --server type=tcp,port=PORT --flags
// not-need-init,startup-clear). A device that is absent, or a port where
// nothing listens, gives an error wrapping ErrNoTPM.
func Open(device string) (*TPM, error) {
	t, err := dial(device)
	if err != nil {
		return nil, &Error{Device: device, Err: err}
	}
	return &TPM{device: device, t: t}, nil
}

func dial(device string) (transport.TPMCloser, error) {
	if addr, ok := strings.CutPrefix(device, "tcp://"); ok {
		t, err := dialSimulator(addr)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: nothing listens there (%w)", ErrNoTPM, err)
		}
		return t, err
	}
	if strings.Contains(device, "://") {
		return nil, fmt.Errorf("%w: want a device path or tcp://HOST:PORT", ErrNoTPM)
	}
	t, err := linuxtpm.Open(device)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: no such device", ErrNoTPM)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("permission denied opening the device (%w)", fs.ErrPermission)
	case err != nil:
		return nil, err
	}
	return t, nil
}

// Device is the device the TPM was opened at.
func (t *TPM) Device() string { return t.device }

// Close closes the connection. Objects left in the TPM stay: persistent
// ones by design, and the package flushes the transient ones it makes.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil
	}
	t.broken = errClosed
	return t.t.Close()
}

// do runs f with the connection, one caller at a time. When ctx ends
// first, the connection is closed under f (a simulator's socket unblocks;
// a device's read may finish later) and do returns ctx's error; the TPM
// is unusable afterwards. f may still be running then: it must keep its
// results in its own variables until it returns nil.
func (t *TPM) do(ctx context.Context, f func(transport.TPM) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return fmt.Errorf("connection closed (%w)", t.broken)
	}
	if ctx == nil || ctx.Done() == nil {
		return f(t.t)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f(t.t) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.t.Close()
		t.broken = fmt.Errorf("a command was abandoned: %w", ctx.Err())
		return ctx.Err()
	}
}

var errClosed = errors.New("Close was called")

// err wraps a cause with the device (and handle) it is about.
func (t *TPM) err(handle uint32, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("no answer: %w", err)
	}
	return &Error{Device: t.device, Handle: handle, Err: err}
}
