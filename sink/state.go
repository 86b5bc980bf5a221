package sink

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/privfile"
)

// The state file holds each signer's stored counter, keyed by the SHA-256
// of its public key's PKIX DER, and the time that counter was stored. It
// holds no secret. It is two slots of equal size (a multiple of 4096
// bytes), written in place alternately, as LMDB writes its two meta pages:
// a batch costs one write and one fdatasync, and a write cut short by a
// crash spoils only the slot it was writing, whose checksum then fails,
// while the other still holds the last state made durable. The valid slot
// with the higher sequence number is the state. A slot, integers
// big-endian:
//
//	magic    8 bytes "ESSTATE\n"
//	version  uint32, 1
//	count    uint32, the number of entries
//	seq      uint64, incremented by every write
//	entries  count times: fingerprint [32]byte, counter int64,
//	         stored int64 (Unix seconds; 0: unknown)
//	crc      uint32, CRC-32C of all of the above
//	zeros to the end of the slot
//
// The file is made, or remade larger, only at start-up and only by an
// atomic replacement (temporary file, fsync, rename, fsync of the folder).
const (
	stateMagic   = "ESSTATE\n"
	stateVersion = 1
	headerSize   = 24
	entrySize    = 48
	blockSize    = 4096
	// maxStateFile bounds what is read: ten thousand entries.
	maxStateFile = 1 << 20
)

// ErrStateDamaged: the state file has no valid slot, or a length no state
// file has. The sink refuses to start rather than reset counters, which
// would accept replays. It comes wrapped in a *ConfigError naming the file.
var ErrStateDamaged = errors.New("damaged")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// fingerprint is the SHA-256 of a signer's public key, PKIX DER.
type fingerprint [sha256.Size]byte

func (f fingerprint) String() string { return hex.EncodeToString(f[:]) }

func keyFingerprint(k *rsa.PublicKey) fingerprint {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic("sink: " + err.Error()) // a key keys.ParseRSAPublic accepted
	}
	return sha256.Sum256(der)
}

// entry is one signer's state.
type entry struct {
	fp      fingerprint
	counter int64
	stored  int64 // Unix seconds its counter was stored; 0: unknown
}

// slotSizeFor is the slot size that holds n entries.
func slotSizeFor(n int) int {
	return (headerSize + n*entrySize + 4 + blockSize - 1) / blockSize * blockSize
}

// encodeSlot fills buf, a whole slot, with es.
func encodeSlot(buf []byte, seq uint64, es []entry) {
	clear(buf)
	be := binary.BigEndian
	copy(buf, stateMagic)
	be.PutUint32(buf[8:], stateVersion)
	be.PutUint32(buf[12:], uint32(len(es)))
	be.PutUint64(buf[16:], seq)
	off := headerSize
	for _, e := range es {
		copy(buf[off:], e.fp[:])
		be.PutUint64(buf[off+32:], uint64(e.counter))
		be.PutUint64(buf[off+40:], uint64(e.stored))
		off += entrySize
	}
	be.PutUint32(buf[off:], crc32.Checksum(buf[:off], crcTable))
}

// errUnwritten is a slot of zeros: the second slot of a new file.
var errUnwritten = errors.New("never written")

// errVersion is a valid slot of another version of the format.
type errVersion uint32

func (v errVersion) Error() string {
	return fmt.Sprintf("format version %d, want %d (written by a newer entropy-sink?)", uint32(v), stateVersion)
}

// decodeSlot reads one slot. Any error but errVersion means the slot holds
// no state: never written, or its write was cut short.
func decodeSlot(b []byte) (seq uint64, es []entry, err error) {
	be := binary.BigEndian
	if !bytes.HasPrefix(b, []byte(stateMagic)) {
		if zero(b) {
			return 0, nil, errUnwritten
		}
		return 0, nil, errors.New("no state slot")
	}
	// The version comes first: another version may lay out the rest
	// differently. A write cut short leaves the old version or the new one.
	if v := be.Uint32(b[8:]); v != stateVersion {
		return 0, nil, errVersion(v)
	}
	n := int(be.Uint32(b[12:]))
	if n > (len(b)-headerSize-4)/entrySize {
		return 0, nil, fmt.Errorf("%d entries do not fit", n)
	}
	end := headerSize + n*entrySize
	if crc32.Checksum(b[:end], crcTable) != be.Uint32(b[end:]) {
		return 0, nil, errors.New("checksum mismatch")
	}
	if !zero(b[end+4:]) {
		return 0, nil, errors.New("bytes after the checksum")
	}
	es = make([]entry, n)
	seen := make(map[fingerprint]bool, n)
	for i := range es {
		off := headerSize + i*entrySize
		copy(es[i].fp[:], b[off:])
		es[i].counter = int64(be.Uint64(b[off+32:]))
		es[i].stored = int64(be.Uint64(b[off+40:]))
		if seen[es[i].fp] {
			return 0, nil, fmt.Errorf("signer %s twice", es[i].fp)
		}
		seen[es[i].fp] = true
	}
	return be.Uint64(b[16:]), es, nil
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// loaded is what a state file held.
type loaded struct {
	seq      uint64
	entries  []entry
	slot     int    // the slot holding them
	slotSize int    // 0: no file
	spoiled  string // why the other slot was passed over, if it held anything
}

// decodeState picks the current slot of a state file's contents.
func decodeState(data []byte) (loaded, error) {
	if len(data) == 0 || len(data)%(2*blockSize) != 0 {
		return loaded{}, fmt.Errorf("%w: %d bytes, want a multiple of %d", ErrStateDamaged, len(data), 2*blockSize)
	}
	size := len(data) / 2
	var (
		l    loaded
		errs [2]error
		ok   [2]bool
		seqs [2]uint64
		ents [2][]entry
	)
	for i := range 2 {
		seqs[i], ents[i], errs[i] = decodeSlot(data[i*size : (i+1)*size])
		var ve errVersion
		if errors.As(errs[i], &ve) {
			return loaded{}, fmt.Errorf("slot %d: %w", i, errs[i])
		}
		ok[i] = errs[i] == nil
	}
	switch {
	case !ok[0] && !ok[1]:
		return loaded{}, fmt.Errorf("%w: slot 0: %v; slot 1: %v", ErrStateDamaged, errs[0], errs[1])
	case ok[0] && ok[1] && seqs[0] == seqs[1]:
		return loaded{}, fmt.Errorf("%w: both slots have sequence number %d", ErrStateDamaged, seqs[0])
	case ok[0] && (!ok[1] || seqs[0] > seqs[1]):
		l.slot = 0
	default:
		l.slot = 1
	}
	l.seq, l.entries, l.slotSize = seqs[l.slot], ents[l.slot], size
	if other := errs[1-l.slot]; other != nil && other != errUnwritten {
		l.spoiled = fmt.Sprintf("slot %d: %v", 1-l.slot, other)
	}
	return l, nil
}

// readState reads the state file at path; a missing file is no state.
func readState(path string) (loaded, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return loaded{}, nil
	}
	if err != nil {
		return loaded{}, stateErr(path, err)
	}
	defer f.Close()
	return readOpen(f, path)
}

func readOpen(f *os.File, path string) (loaded, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return loaded{}, stateErr(path, err)
	}
	if len(data) > maxStateFile {
		return loaded{}, stateErr(path, fmt.Errorf("%w: larger than %d bytes", ErrStateDamaged, maxStateFile))
	}
	l, err := decodeState(data)
	if err != nil {
		return loaded{}, stateErr(path, err)
	}
	return l, nil
}

func stateErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &ConfigError{Path: path, Err: err}
}

// merge applies the configuration to stored entries: every configured
// signer gets an entry (appended when new), at least its floor. Entries of
// signers no longer configured are kept, so that configuring one again
// brings its counter back. at[i] is signer i's index in the result.
func merge(stored []entry, fps []fingerprint, floors []int64) (es []entry, at []int, changed bool) {
	es = append([]entry(nil), stored...)
	at = make([]int, len(fps))
	for i, fp := range fps {
		j := -1
		for k := range es {
			if es[k].fp == fp {
				j = k
				break
			}
		}
		if j < 0 {
			j = len(es)
			es = append(es, entry{fp: fp})
			changed = true
		}
		if floors[i] > es[j].counter {
			es[j].counter = floors[i]
			changed = true
		}
		at[i] = j
	}
	return es, at, changed
}

// stateFile is the state file open for the committer, which alone writes
// it.
type stateFile struct {
	f        *os.File
	slotSize int
	seq      uint64 // of the last write that succeeded
	next     int    // the slot the next write goes to: never the current one
	buf      []byte
	es       []entry // the entries when opened
	at       []int   // at[i] is signer i's index in es
	created  bool    // the file was missing
	spoiled  string  // a slot passed over at start-up, and why
}

// openState opens the state file at path, after removing the temporary
// files an earlier start-up may have left. It makes the file when it is
// missing, or remade larger when the entries will not fit, and stores the
// configuration's floors and new signers (merge) when they change the
// entries. A damaged file is an error, and nothing is written then; so is
// a file owned by another user than root and the sink's. A symbolic link
// is followed, and the file it leads to is the one made and written.
func openState(path string, fps []fingerprint, floors []int64) (*stateFile, error) {
	real, err := resolveLink(path)
	if err != nil {
		return nil, stateErr(path, err)
	}
	if err := atomicfile.RemoveTemp(real); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, stateErr(path, err)
	}
	var l loaded
	f, err := os.OpenFile(real, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist): // made below
	case err != nil:
		return nil, stateErr(path, err)
	default:
		if err := privfile.CheckOwner(f); err != nil {
			f.Close()
			return nil, stateErr(path, err)
		}
		if l, err = readOpen(f, path); err != nil {
			f.Close()
			return nil, err
		}
	}
	es, at, changed := merge(l.entries, fps, floors)
	s := &stateFile{f: f, slotSize: l.slotSize, seq: l.seq, next: 1 - l.slot, es: es, at: at, created: f == nil, spoiled: l.spoiled}
	if f != nil && slotSizeFor(len(es)) <= l.slotSize {
		s.buf = make([]byte, s.slotSize)
		if changed {
			if err := s.write(es); err != nil {
				f.Close()
				return nil, stateErr(path, err)
			}
		}
		return s, nil
	}
	// A new file, or one too small: made whole, with slot 0 current.
	if f != nil {
		f.Close()
	}
	s.slotSize = slotSizeFor(len(es))
	s.buf = make([]byte, s.slotSize)
	s.seq++
	s.next = 1
	data := make([]byte, 2*s.slotSize)
	encodeSlot(data, s.seq, es)
	if err := atomicfile.WriteFile(real, data, stateMode); err != nil {
		return nil, stateErr(path, err)
	}
	if s.f, err = os.OpenFile(real, os.O_RDWR, 0); err != nil {
		return nil, stateErr(path, err)
	}
	return s, nil
}

// write makes es durable in the slot that does not hold the current
// state. If it fails, the next write goes to the same slot: the other one
// still holds the last state made durable.
func (s *stateFile) write(es []entry) error {
	if slotSizeFor(len(es)) > s.slotSize {
		return fmt.Errorf("%d entries do not fit a slot of %d bytes", len(es), s.slotSize)
	}
	encodeSlot(s.buf, s.seq+1, es)
	if _, err := s.f.WriteAt(s.buf, int64(s.next*s.slotSize)); err != nil {
		return err
	}
	if err := syncData(s.f); err != nil {
		return err
	}
	s.seq++
	s.next = 1 - s.next
	return nil
}

func (s *stateFile) close() error { return s.f.Close() }

// statePathChecked returns StatePath, refusing none (a configuration
// read from no file) and the configuration file itself: what New and
// Check need before they read the state file.
func (c *Config) statePathChecked() (string, error) {
	path := c.StatePath()
	if path == "" {
		return "", &ConfigError{Field: "State", Err: errors.New("no state file: the configuration was read from no file")}
	}
	if c.path != "" && filepath.Clean(path) == filepath.Clean(c.path) {
		return "", &ConfigError{Path: c.path, Field: "State", Err: errors.New("is the configuration file itself")}
	}
	return path, nil
}

// stored checks c, then reads its state file, if any, without writing
// it, and applies the configuration's floors (merge): what Status and
// NewDecoder start from.
func (c *Config) stored() (k *compiled, es []entry, at []int, err error) {
	if k, err = c.compile(); err != nil {
		return nil, nil, nil, err
	}
	var l loaded
	if path := c.StatePath(); path != "" {
		if l, err = readState(path); err != nil {
			return nil, nil, nil, err
		}
	}
	es, at, _ = merge(l.entries, k.fps, k.floors)
	return k, es, at, nil
}

// SignerState is one signer's stored state.
type SignerState struct {
	Name        string // empty for a signer no longer configured
	Fingerprint string // "SHA256:" and the hex SHA-256 of its public key's PKIX DER, as keys.Fingerprint
	Legacy      bool
	Counter     int64     // stored counter, the configuration's floor applied
	Stored      time.Time // when that counter was stored; zero if unknown
}

// Status reads cfg's state file, changing nothing, and returns the state
// of each configured signer, in the configuration's order, then of each
// signer the file remembers that is no longer configured.
func Status(cfg *Config) ([]SignerState, error) {
	k, es, at, err := cfg.stored()
	if err != nil {
		return nil, err
	}
	out := make([]SignerState, 0, len(es))
	configured := make([]bool, len(es))
	add := func(name string, legacy bool, e entry) {
		st := SignerState{Name: name, Fingerprint: "SHA256:" + e.fp.String(), Legacy: legacy, Counter: e.counter}
		if e.stored != 0 {
			st.Stored = time.Unix(e.stored, 0)
		}
		out = append(out, st)
	}
	for i, j := range at {
		configured[j] = true
		add(k.names[i], k.signers[i].Legacy, es[j])
	}
	for j, e := range es {
		if !configured[j] {
			add("", false, e)
		}
	}
	return out, nil
}
