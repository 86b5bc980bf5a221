package sink

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// As root, the kernel credits a boot seed. entropy_avail (and RNDGETENTCNT,
// the same number) cannot show it: since Linux 5.18 it stops at 256 once
// the CRNG is ready, which it is long before a test runs. What can be read
// is the kernel's answer to RNDADDENTROPY itself. Its handler
// (drivers/char/random.c) refuses a negative count with EINVAL before it
// reads a byte, and returns 0 only after it has mixed in all the bytes and
// called credit_init_bits with the count. So: a count of -1 in the struct
// the pool builds must come back EINVAL (the kernel reads the count where
// randPoolInfo puts it), and the seed's credit must come back 0 (taken).
// RNDGETENTCNT is logged before and after, and checked only on a kernel
// whose CRNG is not ready yet.
func TestBootSeedKernelCredit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBootSeedName)
	if os.Geteuid() != 0 {
		// Without CAP_SYS_ADMIN the kernel answers EPERM and the pool
		// writes the seed to /dev/random instead: mixed in, not credited.
		if err := updateBootSeed(path, randomChunk(), readMachineIdentity(hostIdentity), time.Now()); err != nil {
			t.Fatal(err)
		}
		r, err := FeedBootSeed(BootSeedOptions{Path: path, Credit: DefaultBootSeedCredit})
		if err != nil || r.Fed != BootSeedSize || r.Credited != 0 {
			t.Fatalf("not root: %+v %v", r, err)
		}
		t.Skip("crediting needs CAP_SYS_ADMIN: run as root")
	}
	fd, err := unix.Open("/dev/random", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	probe := randPoolInfo(0, nil)
	if err := ioctl(fd, unix.RNDADDENTROPY, unsafe.Pointer(&probe[0])); fallbackErr(err) {
		t.Skipf("no RNDADDENTROPY here (%v): a container or an emulator", err)
	}
	entcnt := func() int32 {
		var n int32
		if err := ioctl(fd, unix.RNDGETENTCNT, unsafe.Pointer(&n)); err != nil {
			t.Fatalf("RNDGETENTCNT: %v", err)
		}
		return n
	}

	seed := make([]byte, BootSeedSize)
	rand.Read(seed)
	neg := randPoolInfo(-1, seed)
	if err := ioctl(fd, unix.RNDADDENTROPY, unsafe.Pointer(&neg[0])); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("RNDADDENTROPY with a count of -1: %v, want EINVAL", err)
	}

	// Through FeedBootSeed and the kernel pool, as the seed service does.
	if err := updateBootSeed(path, randomChunk(), readMachineIdentity(hostIdentity), time.Now()); err != nil {
		t.Fatal(err)
	}
	before := entcnt()
	r, err := FeedBootSeed(BootSeedOptions{Path: path, Credit: DefaultBootSeedCredit})
	if err != nil {
		t.Fatal(err)
	}
	after := entcnt()
	t.Logf("verdict %v; credited %d bits; RNDGETENTCNT %d before, %d after", r.Verdict, r.Credited, before, after)
	if machineID, _ := hostIdentity.read(); machineID == "" {
		if r.Verdict != SeedNoIdentity || r.Credited != 0 {
			t.Fatalf("no machine ID here: %+v", r)
		}
		t.Skip("no /etc/machine-id here: the seed cannot be credited")
	}
	if r.Verdict != SeedCredited || r.Fed != BootSeedSize || r.Credited != DefaultBootSeedCredit {
		t.Fatalf("%+v, want %d bits credited", r, DefaultBootSeedCredit)
	}
	if before < 256 && after < min(256, before+DefaultBootSeedCredit) {
		t.Fatalf("the CRNG was not ready and RNDGETENTCNT went from %d to %d after crediting %d bits", before, after, DefaultBootSeedCredit)
	}
	// A credit of 0 (a seed that may not be credited) is also taken, as a
	// mix without credit.
	r, err = FeedBootSeed(BootSeedOptions{Path: path, Credit: 0})
	if err != nil || r.Credited != 0 || r.Fed != BootSeedSize {
		t.Fatalf("credit 0: %+v %v", r, err)
	}
}
