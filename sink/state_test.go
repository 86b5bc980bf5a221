package sink

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/packet"
)

// The original's sink.json, as the original left it after accepting its
// frames 1 and 2 (Counter 2), marked Legacy to take protocol 1: its Counter
// is a floor, so frames at or below it are refused, and the first start
// makes the state file beside it and leaves the configuration as it was.
func TestMigrationFloor(t *testing.T) {
	orig := vectors.Read(t, "sink.json")
	edited := bytes.Replace(orig, []byte(`"Counter": 0,`), []byte(`"Counter": 2,`), 1)
	edited = bytes.Replace(edited, []byte(`"Drift": 120`), []byte(`"Drift": 120, "Legacy": true`), 1)
	if bytes.Equal(edited, orig) || !bytes.Contains(edited, []byte(`"Legacy": true`)) {
		t.Fatal("the vector sink.json no longer has the fields this test edits")
	}
	dir := t.TempDir()
	path := privateCopy(t, dir, "sink.json", edited)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatePath() != filepath.Join(dir, "sink.state") {
		t.Fatalf("state file %s, want sink.state beside sink.json", cfg.StatePath())
	}
	at := func() time.Time { return time.Unix(1700000060, 0) }
	logs := &syncBuffer{}
	s, addr := start(t, cfg, Options{now: at, pool: &recordingPool{}, Logger: textLogger(logs)})
	if !strings.Contains(logs.String(), "no state file (first start?)") {
		t.Errorf("no word of the state file made:\n%s", logs)
	}
	k := vectorKeys(t)
	for _, f := range []struct {
		name   string
		frame  []byte
		status packet.Status
		value  int64
	}{
		{"valid-1", vectors.Read(t, "valid-1.frame"), packet.StatusCounter, 2},
		{"valid-2", vectors.Read(t, "valid-2.frame"), packet.StatusCounter, 2},
		{"protocol 2 at the floor", frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, at()), packet.StatusCounter, 2},
		{"valid-3", vectors.Read(t, "valid-3.frame"), packet.StatusAccepted, 0},
		{"valid-3 again", vectors.Read(t, "valid-3.frame"), packet.StatusCounter, 3},
	} {
		if st, v := send(t, addr, f.frame); st != f.status || v != f.value {
			t.Errorf("%s: %s %d, want %s %d", f.name, st, v, f.status, f.value)
		}
	}
	if !bytes.Equal(fileBytes(t, path), edited) {
		t.Fatal("the configuration was rewritten")
	}
	shutdown(t, s)

	// The state file's counter now outranks the configuration's floor.
	cfg, _ = LoadConfig(path)
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != 3 {
		t.Fatalf("stored counter %d after restart, want 3", c)
	}
	// A floor above the state file's counter raises it, at start.
	os.WriteFile(path, bytes.Replace(edited, []byte(`"Counter": 2,`), []byte(`"Counter": 14,`), 1), 0o600)
	cfg, _ = LoadConfig(path)
	_, addr = start(t, cfg, Options{now: at, pool: &recordingPool{}})
	if st, v := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 14, at())); st != packet.StatusCounter || v != 14 {
		t.Fatalf("at the raised floor: %s %d", st, v)
	}
	l, err := readState(cfg.StatePath())
	if err != nil || len(l.entries) != 1 || l.entries[0].counter != 14 {
		t.Fatalf("state file after raising the floor: %+v, %v", l, err)
	}
}

func shutdown(t testing.TB, s *Server) {
	t.Helper()
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A state file that is truncated, garbage, fails its checksums, or is of
// another version stops start-up with an error naming it, and nothing is
// written: no counter is ever reset.
func TestStateDamaged(t *testing.T) {
	k := vectorKeys(t)
	good := func(t *testing.T) *Config {
		cfg := testConfig(t, t.TempDir(), nil)
		s, addr := start(t, cfg, Options{pool: &recordingPool{}})
		for c := int64(1); c <= 3; c++ {
			if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, c, epoch)); st != packet.StatusAccepted {
				t.Fatalf("counter %d: %s", c, st)
			}
		}
		// Stopped, so that its boot seed write (after the reply) is done.
		shutdown(t, s)
		return cfg
	}
	// reseal recomputes slot i's checksum after an edit.
	reseal := func(data []byte, i int) {
		size := len(data) / 2
		slot := data[i*size : (i+1)*size]
		end := headerSize + int(binary.BigEndian.Uint32(slot[12:]))*entrySize
		binary.BigEndian.PutUint32(slot[end:], crc32.Checksum(slot[:end], crcTable))
	}
	garbage := make([]byte, 2*blockSize)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	for _, tc := range []struct {
		name    string
		edit    func([]byte) []byte
		damaged bool // else another version
		substr  string
	}{
		{"empty", func([]byte) []byte { return nil }, true, "0 bytes"},
		{"truncated", func(b []byte) []byte { return b[:5000] }, true, "5000 bytes"},
		{"one slot long", func(b []byte) []byte { return b[:blockSize] }, true, "4096 bytes"},
		{"garbage", func([]byte) []byte { return garbage }, true, "no state slot"},
		{"bad checksums", func(b []byte) []byte {
			b[headerSize+40]++
			b[blockSize+headerSize+40]++
			return b
		}, true, "checksum mismatch"},
		{"entry count too large", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[12:], 1000)
			binary.BigEndian.PutUint32(b[blockSize+12:], 1000)
			return b
		}, true, "1000 entries do not fit"},
		{"same sequence twice", func(b []byte) []byte {
			copy(b[blockSize:], b[:blockSize])
			return b
		}, true, "both slots"},
		{"newer version", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[8:], 2)
			reseal(b, 0)
			return b
		}, false, "format version 2, want 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good(t)
			path := cfg.StatePath()
			data := tc.edit(fileBytes(t, path))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			names := dirNames(t, filepath.Dir(path))
			_, err := New(cfg, Options{pool: &recordingPool{}})
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), path+": ") ||
				!strings.Contains(err.Error(), tc.substr) || errors.Is(err, ErrStateDamaged) != tc.damaged {
				t.Fatalf("New: %v", err)
			}
			if _, err := Status(cfg); err == nil || err.Error() != ce.Error() {
				t.Fatalf("Status: %v", err)
			}
			if _, err := NewDecoder(cfg, nil); err == nil {
				t.Fatal("NewDecoder read a damaged state file")
			}
			if !bytes.Equal(fileBytes(t, path), data) || !slices.Equal(dirNames(t, filepath.Dir(path)), names) {
				t.Fatal("a refused start wrote something")
			}
		})
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A write cut short spoils only the slot it was writing: the sink starts
// from the other, says so, and writes the spoiled slot next, never the one
// it started from.
func TestStateTornWrite(t *testing.T) {
	k := vectorKeys(t)
	cfg := testConfig(t, t.TempDir(), nil)
	s, addr := start(t, cfg, Options{pool: &recordingPool{}})
	for c := int64(1); c <= 4; c++ {
		if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, c, epoch)); st != packet.StatusAccepted {
			t.Fatalf("counter %d: %s", c, st)
		}
	}
	shutdown(t, s)
	path := cfg.StatePath()
	data := fileBytes(t, path)
	l, err := decodeState(data)
	if err != nil || l.entries[0].counter != 4 {
		t.Fatalf("%+v %v", l, err)
	}
	// Counter 4 went to slot l.slot; a crash in that write would leave
	// half of it: 4 is lost (it was never acknowledged then), 3 remains.
	torn := l.slot * blockSize
	copy(data[torn+blockSize/2:torn+blockSize], make([]byte, blockSize/2))
	copy(data[torn+headerSize:], bytes.Repeat([]byte{0xee}, 100))
	os.WriteFile(path, data, 0o600)

	logs := &syncBuffer{}
	_, addr = start(t, cfg, Options{pool: &recordingPool{}, Logger: textLogger(logs)})
	if st, v := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 3, epoch)); st != packet.StatusCounter || v != 3 {
		t.Fatalf("after the torn write: %s %d, want counter 3 stored", st, v)
	}
	if !strings.Contains(logs.String(), "checksum mismatch") {
		t.Fatalf("no word of the spoiled slot:\n%s", logs)
	}
	kept := slices.Clone(fileBytes(t, path)[(1-l.slot)*blockSize : (2-l.slot)*blockSize])
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 9, epoch)); st != packet.StatusAccepted {
		t.Fatalf("next frame: %s", st)
	}
	after := fileBytes(t, path)
	if !bytes.Equal(after[(1-l.slot)*blockSize:(2-l.slot)*blockSize], kept) {
		t.Fatal("the write went to the slot the sink started from")
	}
	if l2, err := decodeState(after); err != nil || l2.slot != l.slot || l2.entries[0].counter != 9 {
		t.Fatalf("after: %+v %v", l2, err)
	}
}

// Counters follow each signer's key, not its place or name in the
// configuration: reordering signers, adding one, and removing one and
// adding it back never give one signer another's counter.
func TestStateKeyedByFingerprint(t *testing.T) {
	dir := t.TempDir()
	k := vectorKeys(t)
	write := func(signers ...SignerConfig) *Config {
		t.Helper()
		return testConfig(t, dir, func(cfg *Config) { cfg.Signers = signers })
	}
	sc := func(name string, key int) SignerConfig {
		return SignerConfig{Name: name, Signer: pkix(t, extraSigner(t, key))}
	}
	run := func(cfg *Config, steps ...any) {
		t.Helper()
		s, addr := start(t, cfg, Options{pool: &recordingPool{}})
		for i := 0; i < len(steps); i += 3 {
			key, counter, want := steps[i].(int), steps[i+1].(int), steps[i+2].(packet.Status)
			signer := k.signer
			if key >= 0 {
				signer = extraSigner(t, key)
			}
			if st, v := send(t, addr, frame(t, signer, packet.Protocol2, k.sinkPublic, int64(counter), epoch)); st != want {
				t.Fatalf("signer %d counter %d: %s %d, want %s", key, counter, st, v, want)
			}
		}
		shutdown(t, s)
	}
	run(write(sc("a", 0), sc("b", 1)), -1, 3, packet.StatusAccepted, 0, 5, packet.StatusAccepted, 1, 7, packet.StatusAccepted)

	// Reordered, renamed, and a new signer c in a's old place.
	cfg := write(sc("c", 2), sc("bee", 1), sc("ay", 0))
	if got := storedCounters(t, cfg); !mapsEqual(got, map[string]int64{"default": 3, "c": 0, "bee": 7, "ay": 5}) {
		t.Fatalf("after reordering: %v", got)
	}
	run(cfg, 0, 5, packet.StatusCounter, 1, 7, packet.StatusCounter, 2, 1, packet.StatusAccepted, 0, 6, packet.StatusAccepted)

	// a removed: the state file keeps its counter, Status lists it unnamed.
	cfg = write(sc("b", 1), sc("c", 2))
	st, err := Status(cfg)
	if err != nil || len(st) != 4 || st[3].Name != "" || st[3].Counter != 6 || st[3].Fingerprint != fpHex(t, extraSigner(t, 0)) {
		t.Fatalf("status without a: %+v %v", st, err)
	}
	run(cfg, 2, 2, packet.StatusAccepted)
	// a back: its counter with it.
	cfg = write(sc("a", 0), sc("b", 1), sc("c", 2))
	run(cfg, 0, 6, packet.StatusCounter, 0, 7, packet.StatusAccepted)
	if got := storedCounters(t, cfg); !mapsEqual(got, map[string]int64{"default": 3, "a": 7, "b": 7, "c": 2}) {
		t.Fatalf("at the end: %v", got)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func fpHex(t testing.TB, k *rsa.PrivateKey) string {
	sum := sha256.Sum256(pkix(t, k))
	return "SHA256:" + hex.EncodeToString(sum[:])
}

// Status reports each configured signer from the configuration and the
// state file: name, fingerprint, legacy flag, counter, and when it was
// stored; a missing state file is the configuration's floors.
func TestStatus(t *testing.T) {
	k := vectorKeys(t)
	cfg := testConfig(t, t.TempDir(), func(c *Config) {
		c.Counter = 4
		c.Signers = []SignerConfig{{Name: "board", Signer: pkix(t, extraSigner(t, 0)), Counter: 2, Legacy: true}}
	})
	before, err := Status(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.StatePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Status made the state file: %v", err)
	}
	want := []SignerState{
		{Name: DefaultSignerName, Fingerprint: fpHex(t, k.signer), Counter: 4},
		{Name: "board", Fingerprint: fpHex(t, extraSigner(t, 0)), Legacy: true, Counter: 2},
	}
	if !slices.Equal(before, want) {
		t.Fatalf("before any start:\n%+v\nwant\n%+v", before, want)
	}
	now := epoch.Add(time.Hour)
	_, addr := start(t, cfg, Options{now: func() time.Time { return now }, pool: &recordingPool{}})
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 5, now)); st != packet.StatusAccepted {
		t.Fatalf("%s", st)
	}
	want[0].Counter, want[0].Stored = 5, now
	got, err := Status(cfg)
	if err != nil || !slices.EqualFunc(got, want, func(a, b SignerState) bool {
		return a.Name == b.Name && a.Fingerprint == b.Fingerprint && a.Legacy == b.Legacy && a.Counter == b.Counter && a.Stored.Equal(b.Stored)
	}) {
		t.Fatalf("after a packet:\n%+v\nwant\n%+v (%v)", got, want, err)
	}
}

// Temporary files of an earlier start-up that died while making the state
// file are removed at the next start; other files are left alone.
func TestStateTempRemoved(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	for _, n := range []string{".sink.state123456", ".sink.state9", ".sink.stateX", "sink.state.bak"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
	}
	start(t, cfg, Options{pool: &recordingPool{}})
	want := []string{".sink.stateX", "sink.json", "sink.state", "sink.state.bak"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("folder holds %v, want %v", got, want)
	}
}

// Writes alternate between the slots, each with the next sequence number;
// a write that fails is retried in the same slot, so the other keeps the
// last state made durable.
func TestStateSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.state")
	fps := []fingerprint{{1}, {2}}
	sf, err := openState(path, fps, []int64{10, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer sf.close()
	if !sf.created || sf.seq != 1 || sf.next != 1 || len(sf.es) != 2 || sf.es[0].counter != 10 {
		t.Fatalf("new state file: %+v", sf)
	}
	if fi, _ := os.Stat(path); fi.Size() != 2*blockSize || fi.Mode().Perm() != 0o600 {
		t.Fatalf("size %d mode %v", fi.Size(), fi.Mode())
	}
	es := slices.Clone(sf.es)
	for i := range 4 {
		es[1].counter = int64(i + 1)
		if err := sf.write(es); err != nil {
			t.Fatal(err)
		}
		l, err := readState(path)
		if err != nil || l.seq != uint64(i+2) || l.slot != (i+1)%2 || l.entries[1].counter != int64(i+1) {
			t.Fatalf("write %d: %+v %v", i, l, err)
		}
	}
	// Fail one write (a read-only descriptor), then retry it.
	rw := sf.f
	sf.f, _ = os.Open(path)
	es[1].counter = 99
	if err := sf.write(es); err == nil {
		t.Fatal("write through a read-only descriptor succeeded")
	}
	sf.f.Close()
	sf.f = rw
	if err := sf.write(es); err != nil {
		t.Fatal(err)
	}
	if l, _ := readState(path); l.seq != 6 || l.slot != 1 || l.entries[1].counter != 99 {
		t.Fatalf("after the retry: %+v", l)
	}
	if sf.next != 0 {
		t.Fatalf("next write to slot %d", sf.next)
	}
}

// More signers than a slot of one block holds: the file is remade with
// larger slots at start-up, and keeps every counter.
func TestStateGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.state")
	var fps []fingerprint
	var floors []int64
	for i := range 80 {
		fps = append(fps, fingerprint{byte(i), 7})
		floors = append(floors, int64(i))
	}
	sf, err := openState(path, fps, floors)
	if err != nil {
		t.Fatal(err)
	}
	sf.close()
	for i := range 20 {
		fps = append(fps, fingerprint{byte(i), 8})
		floors = append(floors, 0)
	}
	if sf, err = openState(path, fps, make([]int64, len(fps))); err != nil {
		t.Fatal(err)
	}
	defer sf.close()
	l, err := readState(path)
	if err != nil || l.slotSize != 2*blockSize || len(l.entries) != 100 || l.entries[79].counter != 79 || l.seq != 2 {
		t.Fatalf("%d-byte slots, %d entries, %v", l.slotSize, len(l.entries), err)
	}
}

// The configuration holds the private key: refused when others can read
// it, or group, except root:GROUP 0640 (the packages' setup, where GROUP is
// the sink's). Changing owners needs root.
func TestConfigGroupReadable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to other owners")
	}
	const nobody, group = 65534, 4242
	for _, tc := range []struct {
		mode     os.FileMode
		uid, gid int
		ok       bool
	}{
		{0o600, 0, 0, true},
		{0o640, 0, group, true},
		{0o440, 0, group, true},
		{0o640, nobody, group, false}, // the file's owner chose to share it
		{0o660, 0, group, false},      // the group could rewrite the key
		{0o644, 0, group, false},
		{0o604, 0, group, false},
		{0o650, 0, group, false},
	} {
		path := privateCopy(t, t.TempDir(), "sink.json", vectors.Read(t, "sink.json"))
		if err := os.Chown(path, tc.uid, tc.gid); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tc.mode)
		_, err := LoadConfig(path)
		if tc.ok != (err == nil) || (err != nil && (!errors.Is(err, keys.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+path))) {
			t.Errorf("%04o %d:%d: %v", tc.mode, tc.uid, tc.gid, err)
		}
	}
}
