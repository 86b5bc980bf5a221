package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// server runs the command in-process until stop is called; it returns the
// sink's and the metrics' addresses (nil when metrics are off).
func server(t *testing.T, args ...string) (sinkAddr, metricsAddr net.Addr, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	e := env{
		stopContext: func() (context.Context, context.CancelFunc) { return ctx, cancel },
		ready:       func(a, m net.Addr) { ready <- [2]net.Addr{a, m} },
		listen:      localListen,
	}
	errb := &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- cli.Execute(newCommand(e), args, io.Discard, errb) }()
	select {
	case a := <-ready:
		stop = func() (int, string) {
			cancel()
			return <-done, errb.String()
		}
		return a[0], a[1], stop
	case code := <-done:
		cancel()
		t.Fatalf("exited %d: %s", code, errb)
	}
	return nil, nil, nil
}

// --metrics serves metrics for that process only: nothing writes it into
// the configuration, whose bytes and modification time stay as they were,
// and a start without the flag serves none.
func TestMetricsFlagNotPersisted(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "text")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(cfg, old, old)
	before, _ := os.ReadFile(cfg)

	addr, metrics, stop := server(t, "-f", cfg, "--metrics", "127.0.0.1:9438")
	if metrics == nil {
		t.Fatal("--metrics: no metrics listener")
	}
	first := sealFrame(t, 1)
	if st := sendFrame(t, addr.String(), first); st != packet.StatusAccepted {
		t.Fatalf("frame: %s", st)
	}
	if resp, err := http.Get("http://" + metrics.String() + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if code, logs := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, logs)
	}

	addr, noMetrics, stop := server(t, "-f", cfg)
	defer stop()
	if noMetrics != nil {
		t.Fatalf("metrics served at %s without --metrics", noMetrics)
	}
	if _, err := http.Get("http://" + metrics.String() + "/metrics"); err == nil {
		t.Fatal("the first run's metrics address still answers")
	}
	if st := sendFrame(t, addr.String(), first); st != packet.StatusCounter {
		t.Fatalf("replay after restart: %s", st)
	}
	if st := sendFrame(t, addr.String(), sealFrame(t, 2)); st != packet.StatusAccepted {
		t.Fatalf("next frame: %s", st)
	}
	after, _ := os.ReadFile(cfg)
	fi, _ := os.Stat(cfg)
	if !bytes.Equal(after, before) || !fi.ModTime().Equal(old) {
		t.Fatalf("the configuration changed:\n%s", after)
	}
	if bytes.Contains(after, []byte(`"Metrics"`)) {
		t.Fatal("the configuration holds Metrics")
	}
}

// status prints each signer from the configuration and the state file.
func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "text")
	state := filepath.Join(dir, "sink.state")
	seed := filepath.Join(dir, sink.DefaultBootSeedName)
	code, out, stderr := run(t, defaultEnv(), "status", "-f", cfg)
	if code != 0 || !strings.Contains(out, "state file: "+state+" (not made yet") ||
		!strings.Contains(out, "\nboot seed: "+seed+" (none yet: the sink writes one when it accepts a chunk)\n") {
		t.Fatalf("before any start: exit %d\n%s%s", code, out, stderr)
	}
	addr, _, stop := server(t, "-f", cfg)
	at := time.Now().Truncate(time.Second)
	if st := sendFrame(t, addr.String(), sealFrame(t, 7)); st != packet.StatusAccepted {
		t.Fatalf("frame: %s", st)
	}
	stop()
	sum := sha256.Sum256(vectors.Read(t, "signer.pub")) // PKIX DER already
	fp := "SHA256:" + hex.EncodeToString(sum[:])        // as keys.Fingerprint and entropy-source check show it
	code, out, stderr = run(t, defaultEnv(), "status", "-f", cfg)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || lines[0] != "state file: "+state {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	// The seed the sink wrote: this machine's, so credited where it has a
	// machine ID (the sink tags seeds with /etc/machine-id).
	verdict := "; entropy-sink seed would credit it)"
	if !hostHasMachineID() {
		verdict = "; entropy-sink seed would not credit it: carries no machine identity"
	}
	seedLine := regexp.MustCompile(`^boot seed: (.*) \(last chunk mixed in ([0-9.smh]+) ago, at (\S+); (.*)$`).FindStringSubmatch(lines[1])
	if seedLine == nil || seedLine[1] != seed || !strings.HasPrefix("; "+seedLine[4], verdict) {
		t.Fatalf("boot seed line %q", lines[1])
	}
	if mixed, err := time.Parse(time.RFC3339, seedLine[3]); err != nil || mixed.Before(at.Add(-time.Second)) || mixed.After(at.Add(5*time.Second)) {
		t.Fatalf("boot seed mixed at %s, the frame was accepted at %v", seedLine[3], at)
	}
	f := strings.Fields(lines[3])
	stored, err := time.Parse(time.RFC3339, f[3])
	if len(f) != 5 || f[0] != "default" || f[1] != "no" || f[2] != "7" || err != nil ||
		stored.Before(at.Add(-time.Second)) || stored.After(at.Add(5*time.Second)) || f[4] != fp {
		t.Fatalf("signer line %q (fingerprint %s, accepted at %v)", lines[3], fp, at)
	}
	// --state points elsewhere: nothing there yet.
	other := t.TempDir()
	code, out, _ = run(t, defaultEnv(), "status", "-f", cfg, "--state", filepath.Join(other, "other.state"))
	if code != 0 || !strings.Contains(out, "not made yet") || !strings.Contains(out, " 0 ") ||
		!strings.Contains(out, "boot seed: "+filepath.Join(other, sink.DefaultBootSeedName)+" (none yet") {
		t.Fatalf("--state: exit %d\n%s", code, out)
	}
	// A seed status cannot judge: said on its line, the rest printed.
	os.Remove(seed)
	os.Mkdir(seed, 0o700)
	code, out, _ = run(t, defaultEnv(), "status", "-f", cfg)
	if code != 0 || !strings.Contains(out, "boot seed: "+seed+" (cannot judge it: sink: boot seed: "+seed+" is not a regular file)\n") ||
		!strings.Contains(out, "default ") {
		t.Fatalf("a folder for a seed: exit %d\n%s", code, out)
	}
}

// A damaged state file: the server, status and decode all stop with exit
// 2, naming the file, with a hint, and write nothing.
func TestDamagedState(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "text")
	state := filepath.Join(dir, "sink.state")
	addr, _, stop := server(t, "-f", cfg)
	sendFrame(t, addr.String(), sealFrame(t, 1))
	stop()
	data, _ := os.ReadFile(state)
	data[30] ^= 0xff
	data[4096+30] ^= 0xff
	os.WriteFile(state, data, 0o600)
	for _, args := range [][]string{{"-f", cfg}, {"status", "-f", cfg}, {"decode", "-f", cfg, "x.frame"}} {
		code, _, stderr := run(t, defaultEnv(), args...)
		if code != 2 || !strings.Contains(stderr, "entropy-sink: sink: "+state+": damaged: slot 0: checksum mismatch; slot 1: checksum mismatch") ||
			!strings.Contains(stderr, "hint: the sink never resets counters") {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
		}
	}
	if after, _ := os.ReadFile(state); !bytes.Equal(after, data) {
		t.Fatal("the damaged file was written")
	}
}

// sinkBinary builds entropy-sink into t's temporary folder.
func sinkBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "entropy-sink")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// marked is a chunk that says which signer and counter it was sent with.
func marked(signer byte, counter int64) []byte {
	c := make([]byte, packet.ChunkSize)
	rand.Read(c)
	copy(c, "KILLTEST")
	c[8] = signer
	binary.BigEndian.PutUint64(c[9:], uint64(counter))
	return c
}

type sentKey struct {
	signer  byte
	counter int64
}

// The real binary under load from four senders (two signers, each signing
// with two), killed with SIGKILL at random moments and restarted, many
// times: no temporary file outlives a start, no stored counter goes back,
// no counter is accepted or fed twice, nothing is fed above its stored
// counter, every accepted frame is refused when replayed, the boot seed is
// always a whole seed file, and the configuration is never written. The
// state file has no temporary file while the sink serves; the boot seed
// has one during each of its writes, so for it the check is that none a
// kill left outlives the next start.
func TestKillLoop(t *testing.T) {
	bin := sinkBinary(t)
	const kills = 40
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "json")
	second, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sink.LoadConfig(cfgPath)
	secondDER, _ := x509.MarshalPKIXPublicKey(&second.PublicKey)
	c.Signers = []sink.SignerConfig{{Name: "second", Signer: secondDER}}
	c.ReadTimeout = sink.Duration(2 * time.Second)
	c.Address = testtool.FreeAddr(t)
	data, _ := c.Marshal()
	os.WriteFile(cfgPath, data, 0o600)
	configBytes := data
	pool := filepath.Join(dir, "pool.bin")
	state := filepath.Join(dir, "sink.state")
	first, _ := x509.ParsePKCS1PrivateKey(vectors.Read(t, "signer.key"))
	signers := []*rsa.PrivateKey{first, second}
	names := []string{"default", "second"}
	sinkPub := (*[32]byte)(vectors.Read(t, "sink.pub"))

	var proc *exec.Cmd
	startSink := func() {
		t.Helper()
		proc = exec.Command(bin, "-f", cfgPath, "--log-format", "json")
		stderr, _ := proc.StderrPipe()
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(stderr)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				proc.Process.Kill()
				proc.Wait()
				t.Fatalf("sink exited before listening: %v", err)
			}
			if m["msg"] == "listening" {
				break
			}
		}
		go io.Copy(io.Discard, io.MultiReader(dec.Buffered(), stderr))
	}
	t.Cleanup(func() {
		if proc != nil && proc.ProcessState == nil {
			proc.Process.Kill()
			proc.Wait()
		}
	})

	var (
		mu        sync.Mutex
		frames    = map[sentKey][]byte{}
		accepted  = map[sentKey]int{}
		ambiguous = map[sentKey]bool{}
		next      [2]atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for s := range 4 {
		si := s % 2
		wg.Go(func() {
			for !stopped() {
				n := next[si].Add(1)
				key := sentKey{byte(si), n}
				p := &packet.Packet{Timestamp: time.Now().Unix(), Counter: n}
				copy(p.Chunk[:], marked(byte(si), n))
				payload, err := packet.Seal(rand.Reader, p, packet.Protocol2, signers[si], sinkPub)
				if err != nil {
					t.Error(err)
					return
				}
				f := append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
				mu.Lock()
				frames[key] = f
				mu.Unlock()
				// The same frame until a verdict: a retry after a lost
				// reply is a replay.
				for !stopped() {
					st, ok := trySendFrame(c.Address, f)
					mu.Lock()
					if !ok {
						ambiguous[key] = true
					} else if st == packet.StatusAccepted {
						accepted[key]++
						if accepted[key] > 1 {
							t.Errorf("%s counter %d accepted twice", names[si], n)
						}
					}
					mu.Unlock()
					if ok && st != packet.StatusUnavailable && st != packet.StatusBusy {
						if st != packet.StatusAccepted && st != packet.StatusCounter {
							t.Errorf("%s counter %d: %s", names[si], n, st)
						}
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}

	stateTemp := regexp.MustCompile(`^\.sink\.state[0-9]+$`)
	seedTemp := regexp.MustCompile(`^\.boot-seed[0-9]+$`)
	seed := filepath.Join(dir, sink.DefaultBootSeedName)
	last := map[string]int64{}
	checkDisk := func(when string) map[sentKey]bool {
		t.Helper()
		cfg, err := sink.LoadConfig(cfgPath)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		st, err := sink.Status(cfg)
		if err != nil {
			t.Fatalf("%s: the state file does not load: %v", when, err)
		}
		stored := map[string]int64{}
		for _, s := range st {
			stored[s.Name] = s.Counter
			if s.Counter < last[s.Name] {
				t.Fatalf("%s: %s's stored counter went back from %d to %d", when, s.Name, last[s.Name], s.Counter)
			}
			last[s.Name] = s.Counter
		}
		data, _ := os.ReadFile(pool)
		if len(data)%packet.ChunkSize != 0 {
			t.Fatalf("%s: pool is %d bytes", when, len(data))
		}
		fed := map[sentKey]bool{}
		for off := 0; off < len(data); off += packet.ChunkSize {
			ch := data[off : off+packet.ChunkSize]
			if string(ch[:8]) != "KILLTEST" || ch[8] > 1 {
				t.Fatalf("%s: a chunk the test did not send", when)
			}
			key := sentKey{ch[8], int64(binary.BigEndian.Uint64(ch[9:]))}
			if fed[key] {
				t.Fatalf("%s: %s counter %d fed twice", when, names[key.signer], key.counter)
			}
			fed[key] = true
			if key.counter > stored[names[key.signer]] {
				t.Fatalf("%s: %s counter %d fed, stored counter %d", when, names[key.signer], key.counter, stored[names[key.signer]])
			}
		}
		if b, _ := os.ReadFile(cfgPath); !bytes.Equal(b, configBytes) {
			t.Fatalf("%s: the configuration was written", when)
		}
		if info, err := sink.InspectBootSeed(seed); err != nil || info.Verdict == sink.SeedCorrupt {
			t.Fatalf("%s: boot seed: %+v %v", when, info, err)
		}
		return fed
	}
	// checkFolder fails on a temporary file of the state file, and on one
	// of the seed's that left names (all of them when left is nil).
	checkFolder := func(when string, left map[string]bool) {
		t.Helper()
		for _, n := range dirNames(t, dir) {
			if stateTemp.MatchString(n) || seedTemp.MatchString(n) && (left == nil || left[n]) {
				t.Fatalf("%s: temporary file %s", when, n)
			}
		}
	}
	seedTemps := 0

	startSink()
	start := time.Now()
	for i := range kills {
		time.Sleep(time.Duration(mrand.IntN(120)) * time.Millisecond)
		proc.Process.Signal(syscall.SIGKILL)
		proc.Wait()
		checkDisk(fmt.Sprintf("after kill %d", i+1))
		left := map[string]bool{}
		for _, n := range dirNames(t, dir) {
			if seedTemp.MatchString(n) {
				left[n] = true
				seedTemps++
			}
		}
		startSink()
		checkFolder(fmt.Sprintf("after start %d", i+2), left)
	}
	close(stop)
	wg.Wait()

	// Every accepted frame, replayed, is refused.
	mu.Lock()
	defer mu.Unlock()
	for key := range accepted {
		if st, ok := trySendFrame(c.Address, frames[key]); !ok || st != packet.StatusCounter {
			t.Errorf("replay of accepted %s counter %d: %s (reply %v)", names[key.signer], key.counter, st, ok)
		}
	}
	proc.Process.Signal(syscall.SIGTERM)
	if err := proc.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	fed := checkDisk("at the end")
	checkFolder("at the end", nil)
	if got := dirNames(t, dir); strings.Join(got, " ") != "boot-seed pool.bin sink.json sink.state" {
		t.Fatalf("folder holds %v", got)
	}
	unknown := 0
	for key := range accepted {
		if !fed[key] {
			t.Errorf("%s counter %d accepted but not fed", names[key.signer], key.counter)
		}
	}
	for key := range fed {
		if accepted[key] == 0 {
			if !ambiguous[key] {
				t.Errorf("%s counter %d fed but neither accepted nor left without a reply", names[key.signer], key.counter)
			}
			unknown++
		}
	}
	if len(accepted) < kills {
		t.Errorf("only %d frames accepted over %d kills: not under load", len(accepted), kills)
	}
	t.Logf("%d kills in %.1f s: %d frames accepted once each, %d fed whose reply a kill ate, stored %v; state file %s; %d boot seed temporary files left by kills, removed by the next start",
		kills, time.Since(start).Seconds(), len(accepted), unknown, last, state, seedTemps)
}

// hostHasMachineID reports whether this machine has a machine ID the sink
// tags its boot seeds with.
func hostHasMachineID() bool {
	b, err := os.ReadFile("/etc/machine-id")
	id := strings.TrimSpace(string(b))
	return err == nil && len(id) == 32 && strings.Trim(strings.ToLower(id), "0123456789abcdef") == "" && strings.Trim(id, "0") != ""
}

// trySendFrame sends f and reads the reply; ok is false when there was
// none (refused, reset, or cut by a kill).
func trySendFrame(addr string, f []byte) (packet.Status, bool) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(f); err != nil {
		return 0, false
	}
	st, _, err := packet.ReadStatus(c)
	if err != nil {
		return 0, false
	}
	return st, true
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
