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
	p, err := newKernelPool(256, textLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	chunk := make([]byte, 1024)
	rand.Read(chunk)
	credited, err := p.Feed(chunk)
	if err != nil {
		t.Fatal(err)
	}
	if unix.Geteuid() == 0 && credited != 256 && !p.fallback.Load() {
		t.Fatalf("credited %d bits as root", credited)
	}
	if p.fallback.Load() && credited != 0 {
		t.Fatalf("credited %d bits falling back", credited)
	}
	t.Logf("credited %d bits, fallback %v", credited, p.fallback.Load())
}

func TestKernelPoolFallback(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EPERM, unix.ENOSYS, unix.ENOTTY} {
		logs := &syncBuffer{}
		path := filepath.Join(t.TempDir(), "random")
		privateCopy(t, filepath.Dir(path), "random", nil)
		calls := 0
		p, err := openKernelPool(256, textLogger(logs), path, func(int, uint, unsafe.Pointer) error {
			calls++
			return errno
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		credited := 0
		for range 3 {
			chunk := make([]byte, 1024)
			rand.Read(chunk)
			want = append(want, chunk...)
			c, err := p.Feed(chunk)
			if err != nil {
				t.Fatal(err)
			}
			credited += c
		}
		p.Close()
		if got := fileBytes(t, path); !bytes.Equal(got, want) {
			t.Fatalf("%v: fallback wrote %d bytes, want %d", errno, len(got), len(want))
		}
		if calls != 1 || credited != 0 {
			t.Fatalf("%v: %d ioctl calls, %d bits credited", errno, calls, credited)
		}
		if n := strings.Count(logs.String(), "cannot credit entropy"); n != 1 {
			t.Fatalf("%v: fallback logged %d times:\n%s", errno, n, logs)
		}
		if !strings.Contains(logs.String(), path) {
			t.Fatalf("log does not name %s", path)
		}
	}
	// Any other error is the pool's, not a reason to fall back.
	p, _ := openKernelPool(256, nil, privateCopy(t, t.TempDir(), "r", nil), func(int, uint, unsafe.Pointer) error { return unix.EIO })
	defer p.Close()
	if _, err := p.Feed(make([]byte, 1024)); err == nil || p.fallback.Load() {
		t.Fatalf("EIO: %v", err)
	}
	// A credited feed reports its credit.
	ok, _ := openKernelPool(200, nil, privateCopy(t, t.TempDir(), "r", nil), func(int, uint, unsafe.Pointer) error { return nil })
	defer ok.Close()
	if c, err := ok.Feed(make([]byte, 1024)); c != 200 || err != nil {
		t.Fatalf("credited feed: %d bits, %v", c, err)
	}
}
