package sink

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/packet"
)

// The sink's side of the boot seed (bootseed.go): the chunks the sink
// accepts are mixed into the seed file, one write for a group-committed
// batch, on a goroutine of its own.
//
// A chunk goes into the seed once its counter is durable and it was fed:
// the seed holds what the sink accepted and nothing else (a packet refused,
// one whose counter could not be stored or whose feed failed adds nothing).
// When the last connection of a batch has fed its chunk, the batch's fed
// chunks go to the seeder together; batches that complete while a seed
// write is in progress share the next one. The reply does not wait for the
// seed: its write replaces a file durably (two fsyncs and a rename, several
// times the state file's one fdatasync), and a packet whose counter is
// stored and whose chunk was fed is accepted whatever becomes of the seed.
// A seed write that fails is logged and counted, and the next batch starts
// again from the seed on disk; a sink killed before the write loses those
// chunks from the seed, never from the pool.

// maxSeedPending bounds the fed chunks waiting for the next seed write. The
// seed holds 64 bytes: chunks beyond this many, while a write is slow, would
// add nothing it can keep, and are left out of it (they were fed all the same).
const maxSeedPending = 64 * packet.ChunkSize

// BootSeedPath returns the boot seed's path: BootSeed, taken from the
// state file's folder when relative, or DefaultBootSeedName beside the
// state file. The seed is state, like the counters: the configuration's
// folder may be read-only to the sink (/etc/entropyshare in the packages).
// It is empty when StatePath is and BootSeed is not absolute.
func (c *Config) BootSeedPath() string {
	state := c.StatePath()
	switch {
	case filepath.IsAbs(c.BootSeed):
		return filepath.Clean(c.BootSeed)
	case state == "":
		return ""
	case c.BootSeed != "":
		return filepath.Join(filepath.Dir(state), c.BootSeed)
	}
	return BootSeedPath(state)
}

// checkBootSeedPath refuses a boot seed path that names the configuration
// or the state file, a folder, or a file in a folder that does not exist:
// mistakes that would otherwise only show as a failing write per batch.
func checkBootSeedPath(cfg *Config, path string) error {
	bad := func(format string, args ...any) error {
		return &ConfigError{Path: cfg.path, Field: "BootSeed", Err: fmt.Errorf(format, args...)}
	}
	switch filepath.Clean(path) {
	case "", ".":
		return bad("no boot seed path")
	case filepath.Clean(cfg.StatePath()):
		return bad("%s is the state file", path)
	case filepath.Clean(cfg.path):
		return bad("%s is the configuration file itself", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return bad("%s is a folder", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a folder")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err != nil {
		return bad("its folder %s: %v", dir, err)
	}
	return nil
}

// seedBatch is what a batch keeps for the seed: the chunks of its
// connections that were fed, until the last one is done.
type seedBatch struct {
	mu      sync.Mutex
	settled int // connections done with their chunk, fed or not
	chunks  []byte
}

// settle records that a connection of batch b, whose counters were stored,
// is done with its chunk: fed or not. The last one of the batch hands the
// fed chunks to the seeder.
func (s *Server) settle(b *batch, chunk []byte, fed bool) {
	sb := &b.seed
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if fed {
		sb.chunks = append(sb.chunks, chunk...)
	}
	sb.settled++
	if sb.settled == b.n && len(sb.chunks) > 0 { // b.n is final once b.done is closed
		s.seed.add(sb.chunks)
		clear(sb.chunks)
		sb.chunks = nil
	}
}

// seedWriter mixes chunks into the boot seed at path: updateBootSeed, or
// what a test or benchmark puts in its place.
type seedWriter func(path string, chunks []byte, id machineIdentity, now time.Time) error

// seeder writes the boot seed on its own goroutine.
type seeder struct {
	path  string
	id    machineIdentity
	now   func() time.Time
	log   *slog.Logger
	m     *metrics
	write seedWriter
	ok    bool // the last write succeeded; the goroutine's alone

	mu      sync.Mutex
	pending []byte // fed chunks for the next write

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// startSeeder removes the temporary files a killed writer left beside the
// seed, reads the machine identity from files (hostIdentity when zero), and
// starts the goroutine that writes the seed.
func startSeeder(path string, files identityFiles, write seedWriter, now func() time.Time, log *slog.Logger, m *metrics) *seeder {
	if files == (identityFiles{}) {
		files = hostIdentity
	}
	id := readMachineIdentity(files)
	if err := removeSeedTemp(path); err != nil {
		log.Warn("boot seed: cannot remove temporary files left beside it", "file", path, "error", err.Error())
	}
	if id.sources&fromMachineID == 0 {
		log.Warn("no machine ID (/etc/machine-id): the boot seed is written without one and will not be credited", "file", path)
	}
	if write == nil {
		write = updateBootSeed
	}
	sd := &seeder{path: path, id: id, now: now, log: log, m: m, write: write, ok: true,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go sd.loop()
	return sd
}

// removeSeedTemp removes what a sink or seed command killed while
// replacing the seed left, holding the seed's lock so that no other
// writer is between writing its file and renaming it. Without a seed
// there is no such writer: the seed command writes nothing then.
func removeSeedTemp(path string) error {
	f, err := openSeedLocked(path)
	switch {
	case err == nil:
		defer f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return atomicfile.RemoveTemp(path)
}

// add queues fed chunks for the next write.
func (sd *seeder) add(chunks []byte) {
	sd.mu.Lock()
	if room := maxSeedPending - len(sd.pending); room > 0 {
		sd.pending = append(sd.pending, chunks[:min(room, len(chunks))]...)
	}
	sd.mu.Unlock()
	select {
	case sd.kick <- struct{}{}:
	default: // the writer is already due to look
	}
}

func (sd *seeder) loop() {
	defer close(sd.done)
	for {
		select {
		case <-sd.kick:
			sd.flush()
		case <-sd.stop:
			sd.flush()
			return
		}
	}
}

// close writes what is pending and stops the goroutine. The connections
// must be done: nothing may be added after.
func (sd *seeder) close() {
	close(sd.stop)
	<-sd.done
}

// flush mixes the pending chunks into the seed in one write.
func (sd *seeder) flush() {
	sd.mu.Lock()
	chunks := sd.pending
	sd.pending = nil
	sd.mu.Unlock()
	if len(chunks) == 0 {
		return
	}
	defer clear(chunks)
	err := sd.write(sd.path, chunks, sd.id, sd.now())
	if err != nil {
		sd.ok = false
		sd.m.seedErrors.Inc()
		sd.log.Error("cannot write the boot seed; the packets were accepted all the same",
			"file", sd.path, "error", err.Error(), "chunks", len(chunks)/packet.ChunkSize)
		return
	}
	sd.m.seedWrites.Inc()
	if !sd.ok {
		sd.ok = true
		sd.log.Info("boot seed writable again", "file", sd.path)
	}
}
