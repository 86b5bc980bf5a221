package sink

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRandPoolInfo(t *testing.T) {
	chunk := make([]byte, 1024)
	rand.Read(chunk)
	b := randPoolInfo(256, chunk)
	if len(b) != 8+1024 || binary.NativeEndian.Uint32(b) != 256 ||
		binary.NativeEndian.Uint32(b[4:]) != 1024 || !bytes.Equal(b[8:], chunk) {
		t.Fatalf("struct rand_pool_info encoded wrongly: % x", b[:8])
	}
	if unix.RNDADDENTROPY != 0x40085203 {
		t.Fatalf("RNDADDENTROPY is %#x", unix.RNDADDENTROPY)
	}
}

// As root the real ioctl credits; as anyone else the pool falls back.
func TestKernelPoolReal(t *testing.T) {
	logs := &syncBuffer{}
	p, err := NewKernelPool(256, textLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	chunk := make([]byte, 1024)
	rand.Read(chunk)
	if err := p.Feed(chunk); err != nil {
		t.Fatal(err)
	}
	if unix.Geteuid() == 0 && p.CreditedBits() != 256 && !p.fallback.Load() {
		t.Fatalf("credited %d bits as root", p.CreditedBits())
	}
	t.Logf("credited %d bits, fallback %v", p.CreditedBits(), p.fallback.Load())
}

func TestKernelPoolFallback(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EPERM, unix.ENOSYS, unix.ENOTTY} {
		logs := &syncBuffer{}
		path := filepath.Join(t.TempDir(), "random")
		privateCopy(t, filepath.Dir(path), "random", nil)
		calls := 0
		p, err := newKernelPool(256, textLogger(logs), path, func(int, uint, unsafe.Pointer) error {
			calls++
			return errno
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for range 3 {
			chunk := make([]byte, 1024)
			rand.Read(chunk)
			want = append(want, chunk...)
			if err := p.Feed(chunk); err != nil {
				t.Fatal(err)
			}
		}
		p.Close()
		if got := fileBytes(t, path); !bytes.Equal(got, want) {
			t.Fatalf("%v: fallback wrote %d bytes, want %d", errno, len(got), len(want))
		}
		if calls != 1 || p.CreditedBits() != 0 {
			t.Fatalf("%v: %d ioctl calls, %d bits credited", errno, calls, p.CreditedBits())
		}
		if n := strings.Count(logs.String(), "cannot credit entropy"); n != 1 {
			t.Fatalf("%v: fallback logged %d times:\n%s", errno, n, logs)
		}
		if !strings.Contains(logs.String(), path) {
			t.Fatalf("log does not name %s", path)
		}
	}
	// Any other error is the pool's, not a reason to fall back.
	p, _ := newKernelPool(256, nil, privateCopy(t, t.TempDir(), "r", nil), func(int, uint, unsafe.Pointer) error { return unix.EIO })
	defer p.Close()
	if err := p.Feed(make([]byte, 1024)); err == nil || p.fallback.Load() {
		t.Fatalf("EIO: %v", err)
	}
}
