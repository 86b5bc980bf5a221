package sink

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/privfile"
	"golang.org/x/sys/unix"
	"lukechampine.com/blake3"
)

// The boot seed. A sink mixes every chunk it accepts into a small file
// (updateBootSeed); early in the next boot, before the network, the seed
// command feeds it to the kernel, once (FeedBootSeed). docs/BOOTSEED.md is
// the user's view of it.
//
// The file, all integers big-endian:
//
//	offset size
//	     0    7  magic "ESBSEED"
//	     7    1  version: 1
//	     8    1  identity sources: bit 0 /etc/machine-id, bit 1 the DMI product UUID
//	     9    7  zero
//	    16    8  when a received chunk was last mixed in, Unix seconds; 0: never
//	    24   32  machine identity tag (see machineIdentity)
//	    56   64  the seed
//	   120   32  checksum: BLAKE3 in derive-key mode of bytes 0 to 119
//
// Why each field:
//   - The magic and the version refuse a file that is something else (one
//     left empty or zero-filled by a crash on a file system that does not
//     order data before renames, another program's file at a mistyped path)
//     and tell a later format apart.
//   - The sources say which identity inputs went into the tag: the sink and
//     the seed command may not both be able to read the product UUID (root
//     only), and the check must hash what the writer hashed.
//   - The time is the age of the entropy, which the file's mtime is not: the
//     seed command rewrites the file at every boot without adding any.
//   - The checksum catches truncation, bit rot and edits that keep the
//     length. It is no MAC: at early boot there is no key that a clone of
//     the disk would not hold as well. What keeps others from writing the
//     file is its owner and mode, which FeedBootSeed checks.
//   - 64 bytes of seed: twice the 256 bits the kernel's CRNG needs, so the
//     default credit claims half of what the file holds.
//
// Rejected: a bare 64-byte file, as systemd's random-seed is (no room for
// the identity, and any 64 bytes would pass); JSON (a seed is no
// configuration, and exact-length binary parsing is simpler to get right).
const (
	// BootSeedSize is the size of the seed a boot seed file holds.
	BootSeedSize = 64
	// DefaultBootSeedCredit is what the seed command credits by default.
	DefaultBootSeedCredit = 256
	// DefaultBootSeedName is the boot seed's file name, beside the state file.
	DefaultBootSeedName = "boot-seed"

	bootSeedMagic    = "ESBSEED"
	bootSeedVersion  = 1
	bootSeedFileSize = 152
	identityTagSize  = 32

	offVersion  = 7
	offSources  = 8
	offReserved = 9
	offMixed    = 16
	offTag      = 24
	offSeed     = 56
	offChecksum = 120

	// BLAKE3 derive-key contexts, one per purpose.
	seedMixContext      = "entropyshare 2026-11 boot seed mix v1"
	seedNextContext     = "entropyshare 2026-11 boot seed next v1"
	seedIdentityContext = "entropyshare 2026-11 boot seed machine identity v1"
	seedChecksumContext = "entropyshare 2026-11 boot seed checksum v1"
)

// Identity sources: the bits of a boot seed file's sources byte.
const (
	fromMachineID   = 1 << 0
	fromProductUUID = 1 << 1
	knownSources    = fromMachineID | fromProductUUID
)

// maxSeedRead bounds what is read from a boot seed path. Anything longer
// than a boot seed file is garbage; what was read of it is still mixed in
// (without credit) before the file is replaced.
const maxSeedRead = 4096

// seedFormatError is why parseBootSeed refuses a file.
type seedFormatError string

func (e seedFormatError) Error() string { return "sink: not a boot seed file: " + string(e) }

func formatErr(format string, args ...any) error {
	return seedFormatError(fmt.Sprintf(format, args...))
}

// bootSeed is a parsed boot seed file.
type bootSeed struct {
	id    machineIdentity
	mixed int64 // Unix seconds; 0: never held a received chunk
	seed  [BootSeedSize]byte
}

func parseBootSeed(b []byte) (*bootSeed, error) {
	if len(b) != bootSeedFileSize {
		return nil, formatErr("%d bytes, want %d", len(b), bootSeedFileSize)
	}
	if string(b[:offVersion]) != bootSeedMagic {
		return nil, formatErr("bad magic")
	}
	if b[offVersion] != bootSeedVersion {
		return nil, formatErr("version %d, want %d", b[offVersion], bootSeedVersion)
	}
	sum := seedChecksum(b[:offChecksum])
	if subtle.ConstantTimeCompare(sum[:], b[offChecksum:]) != 1 {
		return nil, formatErr("checksum does not match")
	}
	if b[offSources]&^knownSources != 0 {
		return nil, formatErr("unknown identity sources %#02x", b[offSources])
	}
	if !allZero(b[offReserved:offMixed]) {
		return nil, formatErr("reserved bytes are not zero")
	}
	mixed := binary.BigEndian.Uint64(b[offMixed:])
	if mixed > 1<<62 {
		return nil, formatErr("time %d out of range", mixed)
	}
	s := &bootSeed{mixed: int64(mixed)}
	s.id.sources = b[offSources]
	copy(s.id.tag[:], b[offTag:offSeed])
	copy(s.seed[:], b[offSeed:offChecksum])
	return s, nil
}

func (s *bootSeed) marshal() []byte {
	b := make([]byte, bootSeedFileSize)
	copy(b, bootSeedMagic)
	b[offVersion] = bootSeedVersion
	b[offSources] = s.id.sources
	binary.BigEndian.PutUint64(b[offMixed:], uint64(s.mixed))
	copy(b[offTag:], s.id.tag[:])
	copy(b[offSeed:], s.seed[:])
	sum := seedChecksum(b[:offChecksum])
	copy(b[offChecksum:], sum[:])
	return b
}

func seedChecksum(b []byte) [32]byte {
	var sum [32]byte
	blake3.DeriveKey(sum[:], seedChecksumContext, b)
	return sum
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// mixChunk is the seed after an accepted chunk: BLAKE3 in derive-key mode
// over the previous seed (zeros when there is none) and the chunk.
func mixChunk(prev *[BootSeedSize]byte, chunk []byte) [BootSeedSize]byte {
	buf := make([]byte, BootSeedSize+len(chunk))
	if prev != nil {
		copy(buf, prev[:])
	}
	copy(buf[BootSeedSize:], chunk)
	var out [BootSeedSize]byte
	blake3.DeriveKey(out[:], seedMixContext, buf)
	clear(buf)
	return out
}

// nextSeed is the one-way step the seed command takes before it feeds
// what it read: the file left behind does not reveal what the kernel got.
func nextSeed(fed []byte) [BootSeedSize]byte {
	var out [BootSeedSize]byte
	blake3.DeriveKey(out[:], seedNextContext, fed)
	return out
}

// machineIdentity is the identity tag a boot seed carries and what went
// into it. The tag is BLAKE3 in derive-key mode, that is keyed with a key
// derived from its own context string, of the sources byte, the machine ID
// and, where it was readable, the DMI product UUID, each length-prefixed.
// machine-id(5) asks that the raw ID never be stored or shown, only an
// application-specific keyed hash of it (systemd's
// sd_id128_get_machine_app_specific does the same with HMAC-SHA256): the
// tag cannot be linked to the ID or to another program's hash of it.
//
// A disk cloned to another machine keeps the seed file; the clone differs
// in its machine ID (a golden image with /etc/machine-id emptied, or
// systemd-firstboot), or in its product UUID (a hypervisor gives each VM
// its own), and the seed is then not credited there.
type machineIdentity struct {
	sources uint8 // fromMachineID, fromProductUUID; 0: no identity
	tag     [identityTagSize]byte
}

// identityFiles are where the identity inputs are read.
type identityFiles struct {
	machineID   string
	productUUID string
}

// hostIdentity is where they are on a Linux machine. The product UUID is
// readable by root only, so the sink and the seed service, which run as
// the entropyshare user, tag with the machine ID alone.
var hostIdentity = identityFiles{
	machineID:   "/etc/machine-id",
	productUUID: "/sys/class/dmi/id/product_uuid",
}

// read returns the machine ID and the product UUID, each "" when it
// cannot be read or is no identity ("uninitialized", all zeros).
func (f identityFiles) read() (machineID, productUUID string) {
	machineID = strings.ToLower(readSmall(f.machineID))
	if len(machineID) != 32 || strings.Trim(machineID, "0123456789abcdef") != "" || strings.Trim(machineID, "0") == "" {
		machineID = ""
	}
	productUUID = strings.ToLower(readSmall(f.productUUID))
	if strings.Trim(productUUID, "0-") == "" || len(productUUID) > 64 {
		productUUID = ""
	}
	return machineID, productUUID
}

// readSmall reads up to 128 bytes of a file, trimmed; "" on any error.
func readSmall(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 128))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// identityOf tags the inputs that are not empty.
func identityOf(machineID, productUUID string) machineIdentity {
	var id machineIdentity
	if machineID != "" {
		id.sources |= fromMachineID
	}
	if productUUID != "" {
		id.sources |= fromProductUUID
	}
	buf := []byte{id.sources}
	for _, s := range []string{machineID, productUUID} {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	blake3.DeriveKey(id.tag[:], seedIdentityContext, buf)
	return id
}

// readMachineIdentity is this machine's identity, from every input files
// can read. The sink stamps it on the seeds it writes.
func readMachineIdentity(files identityFiles) machineIdentity {
	return identityOf(files.read())
}

// BootSeedPath is the default boot seed path for a sink whose state file
// is stateFile: DefaultBootSeedName in the same folder.
func BootSeedPath(stateFile string) string {
	return filepath.Join(filepath.Dir(stateFile), DefaultBootSeedName)
}

// updateBootSeed mixes an accepted chunk into the boot seed at path and
// stamps it with id and now. The new file (mode 0600) is in place,
// atomically and durably, when it returns. A missing, unreadable or
// corrupt previous seed is replaced by one from the chunk alone: a chunk
// is 1024 bytes of fresh entropy. It takes the file's lock against the
// seed command; callers serialise their own calls.
func updateBootSeed(path string, chunk []byte, id machineIdentity, now time.Time) error {
	var prev *[BootSeedSize]byte
	f, err := openSeedLocked(path)
	if err == nil {
		defer f.Close() // and unlock, after the rename
		if data, err := io.ReadAll(io.LimitReader(f, maxSeedRead)); err == nil {
			if s, err := parseBootSeed(data); err == nil {
				prev = &s.seed
				defer clear(s.seed[:])
			}
			clear(data)
		}
	}
	s := bootSeed{id: id, mixed: now.Unix(), seed: mixChunk(prev, chunk)}
	data := s.marshal()
	clear(s.seed[:])
	defer clear(data)
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("sink: boot seed: %w", err)
	}
	return nil
}

// openSeedLocked opens the regular file at path, not following a symbolic
// link, and takes an exclusive flock on it. A writer replaces the file by
// renaming a new one over it while holding the lock on the old one, so
// after waiting for the lock it checks that path still names the file it
// locked, and starts again if not. The lock goes with the file's close.
func openSeedLocked(path string) (*os.File, error) {
	for {
		// O_NONBLOCK: a FIFO at path must not block the open.
		f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ELOOP) {
				err = fmt.Errorf("%s is a symbolic link; give the file's own path", path)
			}
			return nil, err
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("%s is not a regular file", path)
		}
		if err == nil {
			err = flock(f)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		cur, err := os.Lstat(path)
		if err == nil && os.SameFile(fi, cur) {
			return f, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// BootSeedVerdict says whether the seed command credits a boot seed and,
// if not, why.
type BootSeedVerdict int

const (
	// SeedCredited: the seed may be credited, and is, with the credit asked.
	SeedCredited BootSeedVerdict = iota
	// SeedMissing: there is no seed yet (first boot); nothing is fed.
	SeedMissing
	// SeedCorrupt: the file is no boot seed (truncated, garbage). It is
	// mixed in without credit and replaced.
	SeedCorrupt
	// SeedOpenMode: group or others may access the file, or write its
	// folder, so the seed may be known.
	SeedOpenMode
	// SeedForeignOwner: neither root nor the sink's user owns the file.
	SeedForeignOwner
	// SeedNoIdentity: the seed carries no machine identity: an earlier
	// boot found it unsafe, or it was written without /etc/machine-id.
	SeedNoIdentity
	// SeedUnverifiable: an identity input the seed was written with (the
	// product UUID, or the machine ID) cannot be read here.
	SeedUnverifiable
	// SeedClone: the seed was written on another machine.
	SeedClone
)

var verdictText = [...]string{
	SeedCredited:     "credited",
	SeedMissing:      "no seed yet",
	SeedCorrupt:      "not a boot seed file (truncated or garbage)",
	SeedOpenMode:     "open to group or others",
	SeedForeignOwner: "owned by neither root nor the sink's user",
	SeedNoIdentity:   "carries no machine identity (an earlier boot found it unsafe, or it was written without a machine ID)",
	SeedUnverifiable: "written with a machine identity input that cannot be read here",
	SeedClone:        "written on another machine (a cloned disk?)",
}

func (v BootSeedVerdict) String() string {
	if v < 0 || int(v) >= len(verdictText) {
		return fmt.Sprintf("BootSeedVerdict(%d)", int(v))
	}
	return verdictText[v]
}

// BootSeedInfo describes a boot seed file as found.
type BootSeedInfo struct {
	Path    string
	Verdict BootSeedVerdict // SeedCredited: the seed command credits it
	Detail  string          // what the verdict is about ("mode 0644"); may be empty
	Mixed   time.Time       // when a received chunk was last mixed in; zero: never, or no seed
}

// BootSeedFed is what FeedBootSeed did.
type BootSeedFed struct {
	BootSeedInfo
	Fed      int // bytes fed to the pool; 0 when there was no seed
	Credit   int // bits the pool was asked to credit
	Credited int // bits the kernel took as credit (RNDADDENTROPY succeeded); 0 for a file pool
	// Withheld: the replacement carries no machine identity, so later boots
	// do not credit it either, until the sink mixes in a chunk.
	Withheld bool
}

// BootSeedOptions are FeedBootSeed's inputs.
type BootSeedOptions struct {
	Path string
	// Credit is the number of bits credited when the seed may be credited,
	// 0 to BootSeedSize*8.
	Credit int
	// Pool is Config.Pool's syntax: "kernel" (also when empty) or "file:/path".
	Pool   string
	Logger *slog.Logger
}

// FeedBootSeed feeds the boot seed at o.Path to the pool, once. It reads
// the seed, replaces the file durably with a seed derived from it by a
// one-way step, and only then feeds what it read: a crash at any point
// never feeds the same bytes twice (at worst one seed is lost). The pool
// credits o.Credit bits when the verdict is SeedCredited, none otherwise.
// The kernel pool then reseeds its CRNG.
//
// The seed may be credited when the file is a boot seed, carries this
// machine's identity, is owned by root or by the sink's user, and neither
// the file nor its folder is open to group or others. The sink's user is
// the owner of the seed's folder: whoever owns the folder can replace the
// file anyway, so trusting its owner adds no one. When a verdict puts the
// seed's secrecy in doubt (open mode, foreign owner, garbage) the
// replacement carries no identity, so that later boots do not credit a
// seed derived from it either; a clone's keeps the foreign tag. Both wait
// for the sink to mix in a received chunk.
//
// A missing file is no error: Verdict is SeedMissing and nothing is fed.
// Configuration errors are *ConfigError; any other error means nothing was
// fed, or (when feeding failed) the replaced seed is lost, never fed twice.
func FeedBootSeed(o BootSeedOptions) (*BootSeedFed, error) {
	spec, err := parsePoolSpec(o.Pool)
	if err != nil {
		return nil, err
	}
	h := seedHost{
		identity: hostIdentity,
		open:     func(credit int) (Pool, error) { return spec.open(credit, o.Logger) },
		writeFile: func(path string, data []byte, uid, gid int) error {
			return atomicfile.WriteFileOwned(path, data, 0o600, uid, gid)
		},
		euid: os.Geteuid(),
	}
	return feedBootSeed(o.Path, o.Credit, h)
}

// seedHost is what feedBootSeed takes from the machine; tests replace it.
type seedHost struct {
	identity  identityFiles
	open      func(credit int) (Pool, error)
	writeFile func(path string, data []byte, uid, gid int) error // durable; -1: the writer's
	euid      int
}

func feedBootSeed(path string, credit int, h seedHost) (*BootSeedFed, error) {
	if credit < 0 || credit > BootSeedSize*8 {
		return nil, fieldErr("Credit", "%d bits, want 0 to %d", credit, BootSeedSize*8)
	}
	r := &BootSeedFed{BootSeedInfo: BootSeedInfo{Path: path}}
	f, err := openSeedLocked(path)
	if errors.Is(err, fs.ErrNotExist) {
		r.Verdict = SeedMissing
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	defer f.Close() // and unlock, after the feed
	// A run killed before its rename leaves its temporary file; the lock
	// is held, so no other writer's is in flight.
	if err := atomicfile.RemoveTemp(path); err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSeedRead))
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	defer clear(data)
	j, err := judgeBootSeed(f, path, data, h.identity)
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	r.BootSeedInfo = j.info

	// What is fed, and what replaces it.
	fed := data
	var next bootSeed
	if j.seed != nil {
		fed = j.seed.seed[:]
		defer clear(fed)
		next.id, next.mixed = j.seed.id, j.seed.mixed
	}
	next.seed = nextSeed(fed)
	r.Withheld = j.withhold
	if j.withhold {
		next.id = machineIdentity{}
	}
	out := next.marshal()
	clear(next.seed[:])
	defer clear(out)

	if j.info.Verdict == SeedCredited {
		r.Credit = credit
	}
	pool, err := h.open(r.Credit)
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: nothing fed: %w", err)
	}
	defer pool.Close()
	// As root, the replacement goes to the sink's user, whose file it is.
	uid, gid := -1, -1
	if h.euid == 0 {
		uid, gid = j.dirUID, j.dirGID
	}
	if err := h.writeFile(path, out, uid, gid); err != nil {
		return nil, fmt.Errorf("sink: boot seed: replacing it before feeding it (nothing was fed): %w", err)
	}
	if len(fed) > 0 {
		credited, err := pool.Feed(fed)
		if err != nil {
			return nil, fmt.Errorf("sink: boot seed: feeding it (it was replaced first, so it is lost, not fed twice): %w", err)
		}
		r.Credited = credited
	}
	r.Fed = len(fed)
	return r, nil
}

// judged is a boot seed file as judged.
type judged struct {
	info           BootSeedInfo
	seed           *bootSeed // nil: the file is no boot seed
	withhold       bool      // its secrecy is in doubt: replace it without identity
	dirUID, dirGID int       // owner of the folder: the sink's user
}

// judgeBootSeed decides whether the seed in f (read into data) may be
// credited. The first reason found is the verdict.
func judgeBootSeed(f *os.File, path string, data []byte, files identityFiles) (*judged, error) {
	j := &judged{info: BootSeedInfo{Path: path}}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	fileUID := fi.Sys().(*syscall.Stat_t).Uid
	dst := di.Sys().(*syscall.Stat_t)
	j.dirUID, j.dirGID = int(dst.Uid), int(dst.Gid)

	s, err := parseBootSeed(data)
	if err == nil {
		j.seed = s
		if s.mixed != 0 {
			j.info.Mixed = time.Unix(s.mixed, 0)
		}
	}
	verdict := func(v BootSeedVerdict, detail string) (*judged, error) {
		j.info.Verdict, j.info.Detail = v, detail
		return j, nil
	}
	switch {
	case err != nil:
		j.withhold = true
		return verdict(SeedCorrupt, string(err.(seedFormatError)))
	case errors.Is(privfile.Check(f), privfile.ErrPermissions):
		j.withhold = true
		return verdict(SeedOpenMode, fmt.Sprintf("mode %04o", fi.Mode().Perm()))
	case di.Mode().Perm()&0o022 != 0:
		j.withhold = true
		return verdict(SeedOpenMode, fmt.Sprintf("its folder %s has mode %04o", dir, di.Mode().Perm()))
	case fileUID != 0 && fileUID != dst.Uid:
		j.withhold = true
		return verdict(SeedForeignOwner, fmt.Sprintf("owner uid %d; root or uid %d (the owner of %s) may own it", fileUID, dst.Uid, dir))
	case s.id.sources&fromMachineID == 0:
		return verdict(SeedNoIdentity, "")
	}
	machineID, productUUID := files.read()
	if machineID == "" {
		return verdict(SeedUnverifiable, "no machine ID here")
	}
	if s.id.sources&fromProductUUID == 0 {
		productUUID = ""
	} else if productUUID == "" {
		return verdict(SeedUnverifiable, "written with the DMI product UUID, which cannot be read here (root only)")
	}
	here := identityOf(machineID, productUUID)
	if subtle.ConstantTimeCompare(here.tag[:], s.id.tag[:]) != 1 {
		return verdict(SeedClone, "")
	}
	return verdict(SeedCredited, "")
}

// InspectBootSeed judges the boot seed at path as FeedBootSeed would,
// changing nothing. A missing file is SeedMissing, not an error.
func InspectBootSeed(path string) (*BootSeedInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &BootSeedInfo{Path: path, Verdict: SeedMissing}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sink: boot seed: %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSeedRead))
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	defer clear(data)
	j, err := judgeBootSeed(f, path, data, hostIdentity)
	if err != nil {
		return nil, fmt.Errorf("sink: boot seed: %w", err)
	}
	if j.seed != nil {
		clear(j.seed.seed[:])
	}
	return &j.info, nil
}
