//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/packet"
)

// chunkKey names one packet: its signer and counter.
type chunkKey struct {
	signer  byte
	counter int64
}

// TestSinkCrash: six senders (two per signer, three signers) stream frames
// at a sink that is killed with SIGKILL at random moments and restarted,
// over and over. No counter may be accepted twice, no accepted frame may be
// accepted again when replayed after a restart, the state file must always
// load and its counters never go back, nothing may be in the pool without
// its counter on disk, no temporary file may outlive a start, and the
// configuration is never written.
func TestSinkCrash(t *testing.T) {
	const restarts = 120
	dir := t.TempDir()
	sgs := []*signer{newSigner(t, dir, "signer0"), newSigner(t, dir, "signer1"), newSigner(t, dir, "signer2")}
	names := []string{"default", "s1", "s2"}
	k := newSinkKeys(t, dir, "sink")
	addr := testtool.FreeAddr(t)
	// Every sender and replayer connects from 127.0.0.1: the per-address
	// cap (8) would answer some of them busy, which this scenario, about
	// crashes, does not test (TestAttack* in cmd/entropy-sink do).
	cfg, pool := writeSinkConfig(t, dir, "sink", addr, k, sgs[0], sinkOpts{
		PerAddress:  256,
		ReadTimeout: "2s",
		Extra:       []extraSigner{{Name: "s1", S: sgs[1]}, {Name: "s2", S: sgs[2]}},
	})
	configBytes, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sp := startSink(t, "", cfg, pool, addr)

	var (
		mu        sync.Mutex
		frames    = map[chunkKey][]byte{}
		accepted  = map[chunkKey]int{}
		ambiguous = map[chunkKey]bool{}
		statuses  = map[int]int{}
	)
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var next [3]atomic.Int64
	var wg sync.WaitGroup
	for si := range sgs {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stopped() {
					c := next[si].Add(1)
					key := chunkKey{byte(si), c}
					frame := sealFrame(t, sgs[si], packet.Protocol2, k.public, c, markedChunk(byte(si), c))
					mu.Lock()
					frames[key] = frame
					mu.Unlock()
					// The same frame until the sink gives a verdict: a
					// retry after a lost reply is a replay.
					for !stopped() {
						st, _ := sendFrame(addr, frame, 3*time.Second)
						mu.Lock()
						statuses[st]++
						switch st {
						case noOutcome:
							ambiguous[key] = true
						case int(packet.StatusAccepted):
							accepted[key]++
							if accepted[key] > 1 {
								t.Errorf("signer %s counter %d accepted %d times", names[si], c, accepted[key])
							}
						}
						mu.Unlock()
						if st >= 0 && st != int(packet.StatusBusy) && st != int(packet.StatusUnavailable) {
							if st != int(packet.StatusAccepted) && st != int(packet.StatusCounter) {
								t.Errorf("signer %s counter %d: unexpected status %#x", names[si], c, st)
							}
							break
						}
						time.Sleep(2 * time.Millisecond)
					}
				}
			}()
		}
	}

	// checkDisk applies the on-disk invariants while the sink is down.
	maxPool := 0
	last := map[string]int64{}
	checkDisk := func(when string) map[chunkKey]int {
		t.Helper()
		counters, err := sinkCounters(cfg)
		if err != nil {
			t.Fatalf("%s: the configuration or state file does not load: %v", when, err)
		}
		for name, c := range counters {
			if c < last[name] {
				t.Fatalf("%s: signer %s's stored counter went back from %d to %d", when, name, last[name], c)
			}
			last[name] = c
		}
		if b, _ := os.ReadFile(cfg); !bytes.Equal(b, configBytes) {
			t.Fatalf("%s: the configuration was written", when)
		}
		data, err := os.ReadFile(pool)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(data)%packet.ChunkSize != 0 {
			t.Fatalf("%s: pool is %d bytes, not a whole number of chunks", when, len(data))
		}
		inPool := map[chunkKey]int{}
		for off := 0; off < len(data); off += packet.ChunkSize {
			si, c, ok := parseMarkedChunk(data[off : off+packet.ChunkSize])
			if !ok || int(si) >= len(sgs) {
				t.Fatalf("%s: pool chunk at %d is not one the test sent", when, off)
			}
			key := chunkKey{si, c}
			inPool[key]++
			if inPool[key] > 1 {
				t.Fatalf("%s: signer %s counter %d fed twice", when, names[si], c)
			}
			if stored := counters[names[si]]; c > stored {
				t.Fatalf("%s: signer %s counter %d is in the pool but the stored counter is %d", when, names[si], c, stored)
			}
		}
		maxPool = max(maxPool, len(inPool))
		return inPool
	}

	// replay resends up to n frames that were accepted; each must be refused.
	replays := 0
	replay := func(n int) {
		t.Helper()
		mu.Lock()
		var keys []chunkKey
		for key := range accepted {
			keys = append(keys, key)
		}
		mu.Unlock()
		rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		if n >= 0 && len(keys) > n {
			keys = keys[:n]
		}
		for _, key := range keys {
			mu.Lock()
			frame := frames[key]
			mu.Unlock()
			st, v := sendFrame(addr, frame, 3*time.Second)
			replays++
			if st != int(packet.StatusCounter) || v < key.counter {
				t.Errorf("replay of accepted signer %s counter %d: status %d (stored %d), want 0x02", names[key.signer], key.counter, st, v)
			}
		}
	}

	start := time.Now()
	for i := range restarts {
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		sp.kill()
		checkDisk(fmt.Sprintf("after kill %d", i+1))
		sp.start()
		checkTemp(t, dir, fmt.Sprintf("after start %d", i+2))
		replay(3)
	}
	close(stop)
	wg.Wait()
	replay(-1)
	if code := sp.term(); code != 0 {
		t.Errorf("entropy-sink exit %d on SIGTERM, want 0", code)
	}
	inPool := checkDisk("at the end")
	checkTemp(t, dir, "at the end")
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	for key := range accepted {
		if inPool[key] != 1 {
			t.Errorf("signer %s counter %d was accepted (0x00) but is not in the pool", names[key.signer], key.counter)
		}
	}
	unknown := 0
	for key := range inPool {
		if accepted[key] == 0 {
			if !ambiguous[key] {
				t.Errorf("signer %s counter %d is in the pool but was neither accepted nor left without a reply", names[key.signer], key.counter)
			}
			unknown++
		}
	}
	sent := 0
	for si := range next {
		sent += int(next[si].Load())
	}
	result(t, "%d SIGKILLs in %.0f s, %d frames sealed by 6 senders over 3 signers: %d accepted (0x00), each once; %d 0x02, %d without reply; "+
		"pool %d chunks = %d accepted + %d fed before a kill ate the reply, none twice, none above the on-disk counter; %d replays of accepted frames all refused 0x02; "+
		"state file always loaded, no counter went back, no temporary file after a start, configuration never written",
		restarts, elapsed.Seconds(), sent, len(accepted), statuses[int(packet.StatusCounter)], statuses[noOutcome],
		len(inPool), len(inPool)-unknown, unknown, replays)
}

// checkTemp fails t if dir holds a temporary file of the sink's state file.
func checkTemp(t *testing.T, dir, when string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), ".sink.state"); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			t.Fatalf("%s: temporary file %s", when, e.Name())
		}
	}
}
