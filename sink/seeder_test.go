package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// seedWrites records the sink's boot seed writes, each made by the real
// updateBootSeed: the chunks given to it and its outcome.
type seedWrites struct {
	mu     sync.Mutex
	chunks [][]byte
	errs   []error
	n      atomic.Int64
}

func (w *seedWrites) write(path string, chunks []byte, id machineIdentity, now time.Time) error {
	err := updateBootSeed(path, chunks, id, now)
	w.mu.Lock()
	w.chunks = append(w.chunks, bytes.Clone(chunks))
	w.errs = append(w.errs, err)
	w.mu.Unlock()
	w.n.Add(1)
	return err
}

func (w *seedWrites) all() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.chunks
}

// Through a real listener: each accepted frame replaces the boot seed
// beside the state file with the mix of the previous seed and its chunk,
// 0600, tagged with this machine's identity; a rejected frame leaves it as
// it was. The seed the sink wrote is credited by the seed command on the
// same machine, and not where the machine ID differs.
func TestSinkWritesBootSeed(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	path := filepath.Join(dir, DefaultBootSeedName)
	if got := cfg.BootSeedPath(); got != path {
		t.Fatalf("BootSeedPath %s, want %s", got, path)
	}
	files := identityAt(t, t.TempDir(), katMachineID, "")
	w := &seedWrites{}
	s, addr := start(t, cfg, Options{identity: files, writeSeed: w.write})
	k := vectorKeys(t)

	// Rejected before any seed exists: none is made.
	for _, f := range [][]byte{
		frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch.Add(time.Hour)),
		unsignedFrame(t, k.sinkPublic, 1, epoch),
		append(header(packet.MinFrame-1), make([]byte, packet.MinFrame-1)...),
	} {
		if st, _ := send(t, addr, f); st == packet.StatusAccepted {
			t.Fatal("a bad frame was accepted")
		}
	}

	var prev *bootSeed
	var last []byte
	for c := int64(1); c <= 3; c++ {
		f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, c, epoch)
		if st, v := send(t, addr, f); st != packet.StatusAccepted {
			t.Fatalf("counter %d: %s %d", c, st, v)
		}
		waitFor(t, func() bool { return w.n.Load() == c })
		chunk := chunkOf(t, f)
		got := readSeed(t, path)
		var want [BootSeedSize]byte
		if prev == nil {
			want = mixChunk(nil, chunk)
		} else {
			want = mixChunk(&prev.seed, chunk)
			if got.seed == prev.seed {
				t.Fatalf("counter %d: the seed did not change", c)
			}
		}
		if got.seed != want || bytes.Contains(chunk, got.seed[:16]) {
			t.Fatalf("counter %d: the seed is not the mix of the previous one and the chunk", c)
		}
		if got.id != readMachineIdentity(files) || got.id.sources != fromMachineID || got.mixed != epoch.Unix() {
			t.Fatalf("counter %d: identity %+v, mixed %d", c, got.id, got.mixed)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("counter %d: %v %v", c, fi.Mode(), err)
		}
		prev, last = got, f
	}

	// Rejected frames now: the seed stays as it is.
	before := fileBytes(t, path)
	tampered := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 4, epoch)
	tampered[len(tampered)-10] ^= 1
	for _, f := range [][]byte{
		last, // replay
		frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch),
		frame(t, k.signer, packet.Protocol2, k.sinkPublic, 4, epoch.Add(-time.Hour)),
		tampered,
	} {
		if st, _ := send(t, addr, f); st == packet.StatusAccepted {
			t.Fatal("a bad frame was accepted")
		}
	}
	shutdown(t, s) // every seed write is done
	if !bytes.Equal(fileBytes(t, path), before) || w.n.Load() != 3 {
		t.Fatalf("rejected frames changed the seed (%d writes)", w.n.Load())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 { // sink.json, sink.state, pool.bin, boot-seed
		t.Fatalf("folder holds %v", ents)
	}

	// The seed command credits it on this machine...
	p := &seedPool{}
	r, err := feedBootSeed(path, DefaultBootSeedCredit, testHost(files, p))
	if err != nil || r.Verdict != SeedCredited || r.Credit != DefaultBootSeedCredit || r.Withheld {
		t.Fatalf("same machine: %+v %v", r, err)
	}
	if !bytes.Equal(p.fed[0], prev.seed[:]) || !r.Mixed.Equal(epoch) {
		t.Fatal("the seed command did not feed the seed the sink wrote")
	}
	// ...and not on a machine whose ID differs.
	other := identityAt(t, t.TempDir(), "fedcba9876543210fedcba9876543210", "")
	r, err = feedBootSeed(path, DefaultBootSeedCredit, testHost(other, p))
	if err != nil || r.Verdict != SeedClone || r.Credit != 0 || p.credits[1] != 0 {
		t.Fatalf("another machine ID: %+v %v", r, err)
	}
}

// One seed write for a group-committed batch: its chunks go in together.
func TestBootSeedOneWritePerBatch(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, func(c *Config) {
		for i := range 4 {
			c.Signers = append(c.Signers, SignerConfig{Name: fmt.Sprint("board", i), Signer: pkix(t, extraSigner(t, i))})
		}
	})
	gate := make(chan struct{})
	var writes atomic.Int64
	hold := onWrite(func() error {
		if writes.Add(1) == 1 {
			<-gate // hold the first state write until the others queue up
		}
		return nil
	})
	w := &seedWrites{}
	s, addr := start(t, cfg, Options{pool: &recordingPool{}, wrapWrite: hold, writeSeed: w.write})
	k := vectorKeys(t)
	var wg sync.WaitGroup
	send1 := func(f []byte) {
		defer wg.Done()
		if st, v := send(t, addr, f); st != packet.StatusAccepted {
			t.Errorf("%s %d", st, v)
		}
	}
	first := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	wg.Add(1)
	go send1(first)
	waitFor(t, func() bool { return writes.Load() == 1 })
	var batch [][]byte
	for i := range 4 {
		f := frame(t, extraSigner(t, i), packet.Protocol2, k.sinkPublic, 1, epoch)
		batch = append(batch, chunkOf(t, f))
		wg.Add(1)
		go send1(f)
	}
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cur != nil && s.cur.n == 4
	})
	close(gate)
	wg.Wait()
	shutdown(t, s)

	// Two batches: at most two seed writes (the second batch may have
	// joined the first's write while it waited), one of them holding the
	// second batch's four chunks, and every chunk mixed in exactly once.
	got := w.all()
	if writes.Load() != 2 || len(got) < 1 || len(got) > 2 {
		t.Fatalf("%d state writes, %d seed writes", writes.Load(), len(got))
	}
	var all []byte
	whole := false
	for _, c := range got {
		all = append(all, c...)
		n := 0
		for _, ch := range batch {
			if bytes.Contains(c, ch) {
				n++
			}
		}
		whole = whole || n == 4
	}
	if !whole || len(all) != 5*packet.ChunkSize || !bytes.Contains(all, chunkOf(t, first)) {
		t.Fatalf("seed writes of %d bytes in all; the second batch in one: %v", len(all), whole)
	}
	// The file holds the chain of those writes.
	var seed *[BootSeedSize]byte
	for _, c := range got {
		next := mixChunk(seed, c)
		seed = &next
	}
	if readSeed(t, cfg.BootSeedPath()).seed != *seed {
		t.Fatal("the seed is not the chain of the writes")
	}
}

// A packet whose counter could not be stored, or whose chunk could not be
// fed, was not accepted: nothing of it goes into the seed.
func TestBootSeedOnlyAccepted(t *testing.T) {
	k := vectorKeys(t)
	for name, opts := range map[string]Options{
		"store": {wrapWrite: onWrite(func() error { return errors.New("no space left on device") })},
		"feed":  {pool: failingPool{}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, nil)
			w := &seedWrites{}
			opts.writeSeed = w.write
			s, addr := start(t, cfg, opts)
			if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusUnavailable {
				t.Fatalf("reply %s", st)
			}
			shutdown(t, s)
			if w.n.Load() != 0 || fileBytes(t, cfg.BootSeedPath()) != nil {
				t.Fatal("the seed was written")
			}
		})
	}
}

// A seed write that fails costs no packet: it is accepted and fed, the
// failure logged and counted; the next write after the fault succeeds.
func TestBootSeedWriteFailure(t *testing.T) {
	dir := t.TempDir()
	seedDir := filepath.Join(dir, "seed")
	os.Mkdir(seedDir, 0o700)
	cfg := testConfig(t, dir, func(c *Config) { c.BootSeed = "seed/boot-seed" })
	path := filepath.Join(seedDir, "boot-seed")
	if cfg.BootSeedPath() != path {
		t.Fatalf("BootSeedPath %s", cfg.BootSeedPath())
	}
	logs := &syncBuffer{}
	w := &seedWrites{}
	s, addr := start(t, cfg, Options{Logger: textLogger(logs), writeSeed: w.write})
	k := vectorKeys(t)
	os.RemoveAll(seedDir) // a real failure, also for root
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusAccepted {
		t.Fatalf("reply %s", st)
	}
	waitFor(t, func() bool { return w.n.Load() == 1 })
	if n := len(fileBytes(t, filepath.Join(dir, "pool.bin"))); n != packet.ChunkSize {
		t.Fatalf("pool holds %d bytes", n)
	}
	os.Mkdir(seedDir, 0o700)
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch)); st != packet.StatusAccepted {
		t.Fatalf("reply %s", st)
	}
	waitFor(t, func() bool { return w.n.Load() == 2 })
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"entropyshare_sink_boot_seed_errors_total 1",
		"entropyshare_sink_boot_seed_writes_total 1",
		`entropyshare_sink_packets_accepted_total{signer="default"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR msg=\"cannot write the boot seed; the packets were accepted all the same\" file=" + path,
		"no such file or directory", "msg=\"boot seed writable again\""} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// BootSeed: relative to the state file's folder; refused when it names the
// state or configuration file, a folder, or a file in a missing folder,
// and nothing is written then.
func TestBootSeedConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{path: "/etc/es/sink.json"}, "/etc/es/boot-seed"},
		{Config{path: "/etc/es/sink.json", State: "/var/lib/es/sink.state"}, "/var/lib/es/boot-seed"},
		{Config{path: "/etc/es/sink.json", State: "/var/lib/es/sink.state", BootSeed: "seed"}, "/var/lib/es/seed"},
		{Config{path: "/etc/es/sink.json", State: "state/sink.state", BootSeed: "../seed"}, "/etc/es/seed"},
		{Config{path: "/etc/es/sink.json", BootSeed: "/var/lib/es//seed"}, "/var/lib/es/seed"},
		{Config{BootSeed: "/seed"}, "/seed"},
		{Config{BootSeed: "seed"}, ""},
		{Config{}, ""},
	} {
		if got := c.cfg.BootSeedPath(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg, got, c.want)
		}
	}

	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "folder"), 0o700)
	for seed, want := range map[string]string{
		"sink.state":           "BootSeed: " + filepath.Join(dir, "sink.state") + " is the state file",
		"sink.json":            "BootSeed: " + filepath.Join(dir, "sink.json") + " is the configuration file itself",
		"folder":               "BootSeed: " + filepath.Join(dir, "folder") + " is a folder",
		".":                    "BootSeed: " + dir + " is a folder",
		"missing/boot-seed":    "BootSeed: its folder " + filepath.Join(dir, "missing") + ": no such file or directory",
		"sink.json/boot-seed":  "BootSeed: its folder " + filepath.Join(dir, "sink.json") + ": not a folder",
		filepath.Join(dir, ""): "is a folder",
	} {
		cfg := testConfig(t, dir, func(c *Config) { c.BootSeed = seed })
		names := dirNames(t, dir)
		_, err := New(cfg, Options{pool: &recordingPool{}})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "BootSeed" || !strings.Contains(err.Error(), want) {
			t.Errorf("BootSeed %q: %v, want %q", seed, err, want)
		}
		if got := dirNames(t, dir); strings.Join(got, " ") != strings.Join(names, " ") {
			t.Errorf("BootSeed %q: a refused start wrote something: %v", seed, got)
		}
	}
}

// A start removes the temporary files a killed writer left beside the
// seed, and nothing else.
func TestBootSeedStartRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	path := cfg.BootSeedPath()
	if err := updateBootSeed(path, randomChunk(), machineIdentity{}, epoch); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".boot-seed123456", ".boot-seed9", ".boot-seedx"} {
		os.WriteFile(filepath.Join(dir, n), []byte("left"), 0o600)
	}
	s, err := New(cfg, Options{pool: &recordingPool{}})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown(context.Background())
	if got := strings.Join(dirNames(t, dir), " "); got != ".boot-seedx boot-seed sink.json sink.state" {
		t.Fatalf("folder holds %s", got)
	}
}
