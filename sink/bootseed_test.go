package sink

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
)

// Known answers computed with github.com/zeebo/blake3 v0.2.4, a BLAKE3
// implementation independent of the one the sink uses, from the layout in
// bootseed.go's comment: a file (identity from both sources) holding the
// seed mixed from testChunk with no previous seed, that seed's one-way
// step, and the seed mixed again from itself and testChunk.
const (
	katFile = "45534253454544010300000000000000000000006553f100e8b0f6384d0cd104168c6ce29033c6db6c6651d0587391a49f0b43" +
		"fe9d6fe7b7e88f9486ea75a90139b7a1f1cf4c832ad37fa005c85610b00313e5110668a6d53eeeab52e979d5e4206e43f11b3e0b2fb8" +
		"9b180c4cb2c608367f41b71719207da488871e9710623dbfe4c6f777e57bcfafdf1375c2c13eeb991ec7855f84c2b6"
	katNext = "ba620f025bd5321397b7582394bc1b3d57822c9519706dc1aed0fc5a7821756a0d9f2fb7f6ba59b59a4af7d317802d2ae1d753484d20e62758449913ecf55090"
	katMix2 = "31d8ecfaf06f84671006d7091ed283565739d76efa0c65f22f11a3e119cc0e580dc0d4428ad8274bc0a83d370309a595b4fd635732f866d8945574543660a7d6"

	katMachineID   = "0123456789abcdef0123456789abcdef"
	katProductUUID = "4c4c4544-0042-3510-8048-b2c04f4b4c31"
)

func testChunk() []byte {
	c := make([]byte, 1024)
	for i := range c {
		c[i] = byte(i % 251)
	}
	return c
}

func TestBootSeedKnownAnswers(t *testing.T) {
	chunk := testChunk()
	s := bootSeed{id: identityOf(katMachineID, katProductUUID), mixed: 1700000000, seed: mixChunk(nil, chunk)}
	if got := hex.EncodeToString(s.marshal()); got != katFile {
		t.Fatalf("file\n%s\nwant\n%s", got, katFile)
	}
	back, err := parseBootSeed(s.marshal())
	if err != nil || *back != s {
		t.Fatalf("parse: %v %+v", err, back)
	}
	next := nextSeed(s.seed[:])
	if got := hex.EncodeToString(next[:]); got != katNext {
		t.Fatalf("next %s, want %s", got, katNext)
	}
	mix2 := mixChunk(&s.seed, chunk)
	if got := hex.EncodeToString(mix2[:]); got != katMix2 {
		t.Fatalf("mix %s, want %s", got, katMix2)
	}
}

func TestParseBootSeedInvalid(t *testing.T) {
	good, _ := hex.DecodeString(katFile)
	// resum fixes the checksum after a change, so that the field itself is judged.
	resum := func(b []byte) []byte {
		sum := seedChecksum(b[:offChecksum])
		copy(b[offChecksum:], sum[:])
		return b
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":         {nil, "0 bytes, want 152"},
		"151 bytes":     {good[:151], "151 bytes, want 152"},
		"153 bytes":     {append(bytes.Clone(good), 0), "153 bytes, want 152"},
		"zeros":         {make([]byte, 152), "bad magic"},
		"magic":         {edit(func(b []byte) []byte { b[0] = 'e'; return resum(b) }), "bad magic"},
		"version 0":     {edit(func(b []byte) []byte { b[offVersion] = 0; return resum(b) }), "version 0, want 1"},
		"version 2":     {edit(func(b []byte) []byte { b[offVersion] = 2; return resum(b) }), "version 2, want 1"},
		"checksum":      {edit(func(b []byte) []byte { b[bootSeedFileSize-1] ^= 1; return b }), "checksum does not match"},
		"seed bit flip": {edit(func(b []byte) []byte { b[offSeed] ^= 0x80; return b }), "checksum does not match"},
		"sources":       {edit(func(b []byte) []byte { b[offSources] = 4; return resum(b) }), "unknown identity sources 0x04"},
		"reserved":      {edit(func(b []byte) []byte { b[offMixed-1] = 1; return resum(b) }), "reserved bytes are not zero"},
		"time":          {edit(func(b []byte) []byte { b[offMixed] = 0x80; return resum(b) }), "out of range"},
	}
	for name, c := range cases {
		s, err := parseBootSeed(c.data)
		var fe seedFormatError
		if s != nil || !errors.As(err, &fe) || !strings.Contains(string(fe), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "sink: not a boot seed file: ") {
			t.Errorf("%s: message %q", name, err)
		}
	}
	if _, err := parseBootSeed(good); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseBootSeed: no input panics the parser, and what it accepts
// encodes to the same bytes.
func FuzzParseBootSeed(f *testing.F) {
	good, _ := hex.DecodeString(katFile)
	f.Add(good)
	f.Add(good[:151])
	f.Add((&bootSeed{}).marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseBootSeed(data)
		if err != nil {
			return
		}
		if out := s.marshal(); !bytes.Equal(out, data) {
			t.Fatalf("accepted % x\nencodes to % x", data, out)
		}
	})
}

// identityAt writes the identity inputs into dir (an empty value: no file)
// and returns where they are.
func identityAt(t *testing.T, dir, machineID, productUUID string) identityFiles {
	t.Helper()
	files := identityFiles{machineID: filepath.Join(dir, "machine-id"), productUUID: filepath.Join(dir, "product_uuid")}
	for path, v := range map[string]string{files.machineID: machineID, files.productUUID: productUUID} {
		os.Remove(path)
		if v != "" {
			if err := os.WriteFile(path, []byte(v+"\n"), 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	return files
}

func TestMachineIdentity(t *testing.T) {
	dir := t.TempDir()
	id := func(machineID, uuid string) machineIdentity {
		return readMachineIdentity(identityAt(t, dir, machineID, uuid))
	}
	a := id(katMachineID, "")
	if a.sources != fromMachineID || a != identityOf(katMachineID, "") {
		t.Fatalf("machine ID alone: %+v", a)
	}
	if b := id(strings.ToUpper(katMachineID), ""); b != a {
		t.Error("the machine ID's case changes the tag")
	}
	both := id(katMachineID, katProductUUID)
	if both.sources != knownSources || both.tag == a.tag {
		t.Fatalf("with the product UUID: %+v", both)
	}
	for _, bad := range []string{"uninitialized", "00000000000000000000000000000000", katMachineID[:31], katMachineID + "0", "0123456789abcdef0123456789abcdeg"} {
		if got := id(bad, ""); got.sources != 0 {
			t.Errorf("machine ID %q taken as an identity", bad)
		}
	}
	for _, bad := range []string{"00000000-0000-0000-0000-000000000000", strings.Repeat("a", 65)} {
		if got := id(katMachineID, bad); got.sources != fromMachineID {
			t.Errorf("product UUID %q taken as an identity", bad)
		}
	}
	// The raw values are nowhere in what is stored.
	s := bootSeed{id: both}
	if data := s.marshal(); bytes.Contains(data, []byte(katMachineID)) || bytes.Contains(data, []byte(katProductUUID)) {
		t.Fatal("the file holds a raw identity value")
	}
}

func readSeed(t *testing.T, path string) *bootSeed {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseBootSeed(data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomChunk() []byte {
	c := make([]byte, 1024)
	rand.Read(c)
	return c
}

func TestUpdateBootSeed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBootSeedName)
	id := identityOf(katMachineID, "")
	now := time.Unix(1700000000, 0)

	c1 := randomChunk()
	if err := updateBootSeed(path, c1, id, now); err != nil {
		t.Fatal(err)
	}
	s1 := readSeed(t, path)
	if s1.seed != mixChunk(nil, c1) || s1.id != id || s1.mixed != now.Unix() {
		t.Fatalf("first seed: %+v", s1)
	}
	if bytes.Contains(c1, s1.seed[:8]) {
		t.Fatal("the seed shows in the chunk")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", fi.Mode().Perm())
	}

	c2 := randomChunk()
	if err := updateBootSeed(path, c2, id, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s2 := readSeed(t, path)
	if s2.seed != mixChunk(&s1.seed, c2) || s2.seed == s1.seed || bytes.Contains(c2, s2.seed[:8]) || s2.mixed != now.Unix()+3600 {
		t.Fatalf("second seed: %+v", s2)
	}
	// The same chunk again still moves the seed.
	if err := updateBootSeed(path, c2, id, now); err != nil {
		t.Fatal(err)
	}
	if s3 := readSeed(t, path); s3.seed == s2.seed || s3.seed == s1.seed {
		t.Fatal("the same chunk twice left the seed where it was")
	}

	// A corrupt or open-to-all previous seed: the chunk alone makes the new one.
	os.WriteFile(path, []byte("garbage"), 0o644)
	if err := updateBootSeed(path, c1, id, now); err != nil {
		t.Fatal(err)
	}
	if s := readSeed(t, path); s.seed != mixChunk(nil, c1) {
		t.Fatal("a corrupt previous seed was mixed in")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o after replacing a 0644 file", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	if err := updateBootSeed(filepath.Join(dir, "missing", "seed"), c1, id, now); err == nil {
		t.Fatal("no error for a missing folder")
	}
}

// seedPool records what feedBootSeed feeds, with the credit it opened the
// pool with; Feed reports that credit as taken, as the kernel pool does
// when RNDADDENTROPY succeeds.
type seedPool struct {
	mu      sync.Mutex
	fed     [][]byte
	credits []int
	opened  int
	// check, when set, runs before a feed is recorded; an error fails it.
	check   func(fed []byte) error
	openErr error
}

type openSeedPool struct {
	p      *seedPool
	credit int
}

func (p *seedPool) open(credit int) (Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.openErr != nil {
		return nil, p.openErr
	}
	p.opened++
	return &openSeedPool{p: p, credit: credit}, nil
}

func (o *openSeedPool) Feed(b []byte) (int, error) {
	if o.p.check != nil {
		if err := o.p.check(b); err != nil {
			return 0, err
		}
	}
	o.p.mu.Lock()
	defer o.p.mu.Unlock()
	o.p.fed = append(o.p.fed, bytes.Clone(b))
	o.p.credits = append(o.p.credits, o.credit)
	return o.credit, nil
}

func (o *openSeedPool) Close() error { return nil }

func testHost(files identityFiles, p *seedPool) seedHost {
	return seedHost{
		identity: files,
		open:     p.open,
		writeFile: func(path string, data []byte, uid, gid int) error {
			return atomicfile.WriteFileOwned(path, data, 0o600, uid, gid)
		},
		euid: os.Geteuid(),
	}
}

// feedBootSeed replaces the file with the one-way step of the seed before
// it feeds the seed, so what the file holds is never what was fed; run
// after run the fed seeds follow the chain and never repeat.
func TestFeedBootSeedReplacesFirst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBootSeedName)
	files := identityAt(t, t.TempDir(), katMachineID, "")
	if err := updateBootSeed(path, randomChunk(), readMachineIdentity(files), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	first := readSeed(t, path).seed
	p := &seedPool{}
	p.check = func(fed []byte) error {
		on := readSeed(t, path)
		if want := nextSeed(fed); on.seed != want || bytes.Equal(on.seed[:], fed) {
			t.Errorf("fed while the file holds %x, want its one-way step %x", on.seed[:8], want[:8])
		}
		return nil
	}
	seen := map[string]bool{}
	for i := range 5 {
		r, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, p))
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != SeedCredited || r.Fed != BootSeedSize || r.Credit != DefaultBootSeedCredit || r.Credited != DefaultBootSeedCredit || r.Withheld {
			t.Fatalf("run %d: %+v", i, r)
		}
		if r.Mixed.Unix() != 1700000000 {
			t.Fatalf("run %d: mixed at %v: the one-way step must keep the time of the chunk", i, r.Mixed)
		}
		fed := p.fed[i]
		if seen[string(fed)] {
			t.Fatalf("run %d fed a seed again", i)
		}
		seen[string(fed)] = true
		if i == 0 && !bytes.Equal(fed, first[:]) {
			t.Fatal("the first run did not feed the file's seed")
		}
		if i > 0 {
			if want := nextSeed(p.fed[i-1]); !bytes.Equal(fed, want[:]) {
				t.Fatalf("run %d fed %x, want the next seed %x", i, fed[:8], want[:8])
			}
		}
	}

	// Replacing fails: nothing is fed and the file stays.
	before := fileBytes(t, path)
	h := testHost(files, p)
	h.writeFile = func(string, []byte, int, int) error { return errors.New("disk full") }
	if _, err := feedBootSeed(path, DefaultBootSeedCredit, h); err == nil || !strings.Contains(err.Error(), "nothing was fed") {
		t.Fatalf("write failure: %v", err)
	}
	if len(p.fed) != 5 || !bytes.Equal(fileBytes(t, path), before) {
		t.Fatal("fed or changed after a failed replace")
	}
	// The pool cannot be opened: nothing is written or fed.
	p.openErr = errors.New("no /dev/random")
	if _, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, p)); err == nil {
		t.Fatal("no error when the pool cannot be opened")
	}
	if len(p.fed) != 5 || !bytes.Equal(fileBytes(t, path), before) {
		t.Fatal("fed or changed when the pool could not be opened")
	}
	p.openErr = nil
	// Feeding fails after the replace: the seed is lost, not fed later.
	p.check = func([]byte) error { return errors.New("EIO") }
	if _, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, p)); err == nil || !strings.Contains(err.Error(), "not fed twice") {
		t.Fatalf("feed failure: %v", err)
	}
	lost, _ := parseBootSeed(before)
	if s := readSeed(t, path); s.seed != nextSeed(lost.seed[:]) {
		t.Fatal("after a failed feed the file does not hold the next seed")
	}
}

func TestFeedBootSeedVerdicts(t *testing.T) {
	root := os.Geteuid() == 0
	// setup: the sink writes a seed on machine write; the seed command runs
	// on machine here (the same unless machines says otherwise), after
	// file has changed the file or its folder.
	type setup struct {
		dir, path   string
		write, here identityFiles
	}
	other := func(machineID, productUUID string) func(t *testing.T, s *setup) {
		return func(t *testing.T, s *setup) { s.here = identityAt(t, t.TempDir(), machineID, productUUID) }
	}
	writtenWith := func(machineID, productUUID string) func(t *testing.T, s *setup) {
		return func(t *testing.T, s *setup) {
			s.write = identityAt(t, t.TempDir(), machineID, productUUID)
			s.here = s.write
		}
	}
	chmod := func(mode os.FileMode) func(t *testing.T, s *setup) {
		return func(t *testing.T, s *setup) { os.Chmod(s.path, mode) }
	}
	write := func(data []byte) func(t *testing.T, s *setup) {
		return func(t *testing.T, s *setup) { os.WriteFile(s.path, data, 0o600) }
	}
	garbage := make([]byte, bootSeedFileSize)
	rand.Read(garbage)
	cases := []struct {
		name     string
		rootOnly bool
		machines func(t *testing.T, s *setup)
		file     func(t *testing.T, s *setup)
		want     BootSeedVerdict
		detail   string
		withheld bool
		then     BootSeedVerdict // the next boot's verdict, with no chunk in between
		fresh    bool            // a chunk mixed in on this machine makes it creditable
	}{
		{name: "same machine", want: SeedCredited, then: SeedCredited, fresh: true},
		{name: "same machine with product UUID", machines: writtenWith(katMachineID, katProductUUID),
			want: SeedCredited, then: SeedCredited, fresh: true},
		{name: "changed machine ID", machines: other(strings.Repeat("ab", 16), ""),
			want: SeedClone, then: SeedClone, fresh: true},
		{name: "changed product UUID", machines: func(t *testing.T, s *setup) {
			writtenWith(katMachineID, katProductUUID)(t, s)
			other(katMachineID, "4c4c4544-0042-3510-8048-b2c04f4b4c32")(t, s)
		}, want: SeedClone, then: SeedClone, fresh: true},
		{name: "product UUID unreadable here", machines: func(t *testing.T, s *setup) {
			writtenWith(katMachineID, katProductUUID)(t, s)
			other(katMachineID, "")(t, s)
		}, want: SeedUnverifiable, detail: "product UUID", then: SeedUnverifiable, fresh: true},
		{name: "product UUID readable only here", machines: other(katMachineID, katProductUUID),
			want: SeedCredited, then: SeedCredited, fresh: true},
		{name: "no machine ID here", machines: other("", ""),
			want: SeedUnverifiable, detail: "no machine ID", then: SeedUnverifiable},
		{name: "written without identity", machines: writtenWith("uninitialized", ""),
			want: SeedNoIdentity, then: SeedNoIdentity},
		{name: "mode 0644", file: chmod(0o644), want: SeedOpenMode, detail: "mode 0644", withheld: true, then: SeedNoIdentity, fresh: true},
		{name: "mode 0640", file: chmod(0o640), want: SeedOpenMode, detail: "mode 0640", withheld: true, then: SeedNoIdentity, fresh: true},
		{name: "mode 0400", file: chmod(0o400), want: SeedCredited, then: SeedCredited, fresh: true},
		{name: "folder writable by others", file: func(t *testing.T, s *setup) { os.Chmod(s.dir, 0o777) },
			want: SeedOpenMode, detail: "has mode 0777", withheld: true, then: SeedOpenMode},
		{name: "foreign owner", rootOnly: true, file: func(t *testing.T, s *setup) { os.Chown(s.path, 4242, 4242) },
			want: SeedForeignOwner, detail: "owner uid 4242", withheld: true, then: SeedNoIdentity, fresh: true},
		{name: "the sink's user owns folder and file", rootOnly: true, file: func(t *testing.T, s *setup) {
			os.Chown(s.dir, 4242, 4242)
			os.Chown(s.path, 4242, 4242)
		}, want: SeedCredited, then: SeedCredited, fresh: true},
		{name: "root owns the file in the sink's folder", rootOnly: true, file: func(t *testing.T, s *setup) { os.Chown(s.dir, 4242, 4242) },
			want: SeedCredited, then: SeedCredited, fresh: true},
		{name: "truncated", file: func(t *testing.T, s *setup) { os.Truncate(s.path, 100) },
			want: SeedCorrupt, detail: "100 bytes, want 152", withheld: true, then: SeedNoIdentity, fresh: true},
		{name: "garbage", file: write(garbage), want: SeedCorrupt, detail: "bad magic", withheld: true, then: SeedNoIdentity, fresh: true},
		{name: "larger than a seed", file: write(make([]byte, 10000)),
			want: SeedCorrupt, detail: "4096 bytes", withheld: true, then: SeedNoIdentity, fresh: true},
		{name: "empty", file: write(nil), want: SeedCorrupt, detail: "0 bytes", withheld: true, then: SeedNoIdentity, fresh: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rootOnly && !root {
				t.Skip("changing a file's owner needs root")
			}
			s := &setup{dir: t.TempDir()}
			s.path = filepath.Join(s.dir, DefaultBootSeedName)
			s.write = identityAt(t, t.TempDir(), katMachineID, "")
			s.here = s.write
			if c.machines != nil {
				c.machines(t, s)
			}
			if err := updateBootSeed(s.path, randomChunk(), readMachineIdentity(s.write), time.Unix(1700000000, 0)); err != nil {
				t.Fatal(err)
			}
			if c.file != nil {
				c.file(t, s)
			}
			before := fileBytes(t, s.path)
			p := &seedPool{}
			r, err := feedBootSeed(s.path, DefaultBootSeedCredit, testHost(s.here, p))
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != c.want || !strings.Contains(r.Detail, c.detail) || r.Withheld != c.withheld {
				t.Fatalf("verdict %v (%q), withheld %v; want %v (%q), withheld %v", r.Verdict, r.Detail, r.Withheld, c.want, c.detail, c.withheld)
			}
			wantCredit := 0
			if c.want == SeedCredited {
				wantCredit = DefaultBootSeedCredit
			}
			// A seed is fed as it is; garbage as it was read, up to the
			// limit; an empty file feeds nothing.
			var fed []byte
			if len(before) > 0 {
				if len(p.fed) != 1 || p.credits[0] != wantCredit || r.Credit != wantCredit || r.Credited != wantCredit {
					t.Fatalf("fed %d times, credits %v (result %d, credited %d), want one feed with %d", len(p.fed), p.credits, r.Credit, r.Credited, wantCredit)
				}
				fed = p.fed[0]
			} else if len(p.fed) != 0 || r.Fed != 0 {
				t.Fatal("fed an empty file")
			}
			if old, err := parseBootSeed(before); err == nil {
				if !bytes.Equal(fed, old.seed[:]) {
					t.Fatal("fed something other than the seed")
				}
			} else if !bytes.Equal(fed, before[:min(len(before), maxSeedRead)]) || r.Fed != len(fed) {
				t.Fatalf("fed %d bytes of a %d-byte corrupt file", len(fed), len(before))
			}

			// The replacement: the one-way step, 0600, owned by the
			// folder's owner, without identity when withheld.
			after := readSeed(t, s.path)
			if after.seed != nextSeed(fed) {
				t.Fatal("the file does not hold the one-way step of what was fed")
			}
			if c.withheld && after.id != (machineIdentity{}) {
				t.Fatal("a withheld seed kept its identity")
			}
			if !c.withheld && c.want != SeedCorrupt {
				if old, _ := parseBootSeed(before); after.id != old.id || after.mixed != old.mixed {
					t.Fatal("the replacement changed the identity or the time")
				}
			}
			fi, _ := os.Stat(s.path)
			di, _ := os.Stat(s.dir)
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("replacement mode %04o", fi.Mode().Perm())
			}
			if fo, do := fi.Sys().(*syscall.Stat_t).Uid, di.Sys().(*syscall.Stat_t).Uid; root && fo != do {
				t.Fatalf("replacement owned by %d, want the folder's owner %d", fo, do)
			}

			// The next boot, with no chunk in between.
			r, err = feedBootSeed(s.path, DefaultBootSeedCredit, testHost(s.here, p))
			if err != nil {
				t.Fatal(err)
			}
			if last := p.fed[len(p.fed)-1]; r.Verdict != c.then || bytes.Equal(last, fed) {
				t.Fatalf("next boot: %v, want %v; fed the same bytes: %v", r.Verdict, c.then, bytes.Equal(last, fed))
			}
			// A chunk the sink receives on this machine makes it creditable.
			if err := updateBootSeed(s.path, randomChunk(), readMachineIdentity(s.here), time.Unix(1700000000, 0)); err != nil {
				t.Fatal(err)
			}
			r, err = feedBootSeed(s.path, DefaultBootSeedCredit, testHost(s.here, p))
			if err != nil || (r.Verdict == SeedCredited) != c.fresh {
				t.Fatalf("after a chunk: %v %v, want credited %v", r.Verdict, err, c.fresh)
			}
		})
	}
}

func TestFeedBootSeedMissingAndErrors(t *testing.T) {
	dir := t.TempDir()
	files := identityAt(t, t.TempDir(), katMachineID, "")
	p := &seedPool{}
	path := filepath.Join(dir, DefaultBootSeedName)
	r, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, p))
	if err != nil || r.Verdict != SeedMissing || r.Fed != 0 || p.opened != 0 {
		t.Fatalf("missing seed: %+v %v, pool opened %d times", r, err, p.opened)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a missing seed was created")
	}

	if err := updateBootSeed(path, randomChunk(), readMachineIdentity(files), time.Now()); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, path)
	for _, credit := range []int{-1, BootSeedSize*8 + 1} {
		_, err := feedBootSeed(path, credit, testHost(files, p))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Credit" {
			t.Errorf("credit %d: %v", credit, err)
		}
	}
	// Credit 0 mixes a creditable seed in without credit.
	r, err = feedBootSeed(path, 0, testHost(files, p))
	if err != nil || r.Verdict != SeedCredited || r.Credit != 0 || p.credits[0] != 0 {
		t.Fatalf("credit 0: %+v %v", r, err)
	}
	if bytes.Equal(fileBytes(t, path), before) {
		t.Fatal("credit 0 left the seed in place")
	}
	if r, err := feedBootSeed(path, BootSeedSize*8, testHost(files, p)); err != nil || r.Credit != 512 {
		t.Fatalf("credit 512: %+v %v", r, err)
	}
	if _, err := FeedBootSeed(BootSeedOptions{Path: path, Pool: "disk"}); err == nil {
		t.Fatal("pool \"disk\" accepted")
	}

	// Not a regular file, or a symbolic link: an error, nothing fed.
	fed := len(p.fed)
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := feedBootSeed(link, DefaultBootSeedCredit, testHost(files, p)); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symbolic link: %v", err)
	}
	if _, err := feedBootSeed(dir, DefaultBootSeedCredit, testHost(files, p)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("folder: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err == nil {
		if _, err := feedBootSeed(fifo, DefaultBootSeedCredit, testHost(files, p)); err == nil {
			t.Fatal("FIFO accepted")
		}
	}
	if len(p.fed) != fed {
		t.Fatal("fed something on an error")
	}
}

// Seed commands running at once, and a sink mixing in chunks meanwhile,
// never feed the same seed twice: the file's lock serialises them.
func TestFeedBootSeedConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBootSeedName)
	files := identityAt(t, t.TempDir(), katMachineID, "")
	id := readMachineIdentity(files)
	if err := updateBootSeed(path, randomChunk(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := &seedPool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, p)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if err := updateBootSeed(path, randomChunk(), id, time.Now()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	seen := map[string]bool{}
	for _, f := range p.fed {
		if seen[string(f)] {
			t.Fatal("a seed was fed twice")
		}
		seen[string(f)] = true
	}
	if len(p.fed) != 40 {
		t.Fatalf("fed %d seeds, want 40", len(p.fed))
	}
}

func TestInspectBootSeed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBootSeedName)
	info, err := InspectBootSeed(path)
	if err != nil || info.Verdict != SeedMissing {
		t.Fatalf("missing: %+v %v", info, err)
	}
	// This machine's own identity, as the sink would stamp it.
	mixed := time.Unix(1700000000, 0)
	if err := updateBootSeed(path, randomChunk(), readMachineIdentity(hostIdentity), mixed); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, path)
	info, err = InspectBootSeed(path)
	if err != nil || !info.Mixed.Equal(mixed) {
		t.Fatalf("%+v %v", info, err)
	}
	machineID, _ := hostIdentity.read()
	if want := SeedCredited; machineID != "" && info.Verdict != want {
		t.Fatalf("verdict %v, want %v", info.Verdict, want)
	} else if machineID == "" && info.Verdict != SeedNoIdentity {
		t.Fatalf("no machine ID here: verdict %v", info.Verdict)
	}
	os.Chmod(path, 0o644)
	if info, _ := InspectBootSeed(path); info.Verdict != SeedOpenMode {
		t.Fatalf("0644: %v", info.Verdict)
	}
	os.Chmod(path, 0o600)
	if !bytes.Equal(fileBytes(t, path), before) {
		t.Fatal("InspectBootSeed changed the file")
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	if info, err := InspectBootSeed(path); err != nil || info.Verdict != SeedCorrupt || info.Detail != "4 bytes, want 152" {
		t.Fatalf("junk: %+v %v", info, err)
	}
	if _, err := InspectBootSeed(dir); err == nil {
		t.Fatal("a folder inspected")
	}
	if got := BootSeedPath("/var/lib/entropyshare/sink.state"); got != "/var/lib/entropyshare/boot-seed" {
		t.Fatalf("BootSeedPath: %s", got)
	}
}

func TestBootSeedVerdictString(t *testing.T) {
	for v := SeedCredited; v <= SeedClone; v++ {
		if s := v.String(); s == "" || strings.HasPrefix(s, "BootSeedVerdict(") {
			t.Errorf("%d has no text", v)
		}
	}
	if s := BootSeedVerdict(99).String(); s != "BootSeedVerdict(99)" {
		t.Error(s)
	}
}

// A run killed before its rename leaves a temporary file beside the seed;
// the next run removes it.
func TestFeedBootSeedRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBootSeedName)
	files := identityAt(t, t.TempDir(), katMachineID, "")
	if err := updateBootSeed(path, randomChunk(), readMachineIdentity(files), time.Now()); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "."+DefaultBootSeedName+"123456")
	os.WriteFile(left, []byte("a seed never renamed"), 0o600)
	if _, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, &seedPool{})); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left in the folder: %v", entries)
	}
}
