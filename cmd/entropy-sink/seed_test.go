package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

func TestSeedCommand(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, sink.DefaultBootSeedName)
	pool := filepath.Join(dir, "pool.bin")
	// Missing: exit 0, nothing fed; without --seed the path is the -f
	// configuration's: boot-seed beside its state file, or its BootSeed.
	cfg := writeConfig(t, dir, "text")
	code, out, stderr := run(t, defaultEnv(), "seed", "-f", cfg, "--pool", "file:"+pool)
	if code != 0 || out != seed+": no boot seed yet (a first boot?); the sink writes one when it accepts a chunk\n" {
		t.Fatalf("missing: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(pool); !os.IsNotExist(err) {
		t.Fatal("fed something without a seed")
	}
	state := t.TempDir()
	code, out, _ = run(t, defaultEnv(), "seed", "-f", cfg, "--state", filepath.Join(state, "sink.state"), "--pool", "file:"+pool)
	if code != 0 || !strings.HasPrefix(out, filepath.Join(state, sink.DefaultBootSeedName)+": no boot seed yet") {
		t.Fatalf("--state: exit %d\n%s", code, out)
	}
	c, _ := sink.LoadConfig(cfg)
	c.BootSeed = "/nonexistent/seed-from-config"
	data, _ := c.Marshal()
	other := filepath.Join(t.TempDir(), "sink.json")
	os.WriteFile(other, data, 0o600)
	code, out, _ = run(t, defaultEnv(), "seed", "-f", other, "--pool", "file:"+pool)
	if code != 0 || !strings.HasPrefix(out, "/nonexistent/seed-from-config: no boot seed yet") {
		t.Fatalf("BootSeed: exit %d\n%s", code, out)
	}
	// Without --seed a configuration that cannot be read is a usage error.
	os.Chmod(other, 0o644)
	code, _, stderr = run(t, defaultEnv(), "seed", "-f", other, "--pool", "file:"+pool)
	if code != 2 || !strings.Contains(stderr, "chmod 600") || !strings.Contains(stderr, "hint: or name the seed file with --seed") {
		t.Fatalf("a configuration others can read: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, defaultEnv(), "seed", "-f", filepath.Join(dir, "missing.json"), "--pool", "file:"+pool)
	if code != 2 || !strings.Contains(stderr, "hint: or name the seed file with --seed") {
		t.Fatalf("no configuration: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(pool); !os.IsNotExist(err) {
		t.Fatal("fed something without a seed")
	}

	// Garbage: fed without credit, replaced by a boot seed without identity.
	garbage := make([]byte, 64)
	rand.Read(garbage)
	os.WriteFile(seed, garbage, 0o600)
	code, out, stderr = run(t, defaultEnv(), "seed", "--seed", seed, "--pool", "file:"+pool)
	if code != 0 || !strings.Contains(out, "fed 64 bytes, not credited: not a boot seed file (truncated or garbage) (64 bytes, want 152)") ||
		!strings.Contains(out, "stays uncredited until the sink mixes in a chunk") {
		t.Fatalf("garbage: exit %d\n%s%s", code, out, stderr)
	}
	if got := fileBytes(t, pool); !bytes.Equal(got, garbage) {
		t.Fatalf("pool holds %d bytes, want the 64 garbage bytes", len(got))
	}
	code, out, _ = run(t, defaultEnv(), "seed", "--seed", seed, "--pool", "file:"+pool)
	if code != 0 || !strings.Contains(out, "not credited: carries no machine identity") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	if got := fileBytes(t, pool); len(got) != 128 || bytes.Equal(got[:64], got[64:]) {
		t.Fatal("the second run fed the same bytes again")
	}

	// Usage errors: exit 2, nothing changed.
	before := fileBytes(t, seed)
	for _, args := range [][]string{{"--credit", "513"}, {"--credit", "-1"}, {"--pool", "disk"}, {"extra"}} {
		code, _, stderr := run(t, defaultEnv(), append([]string{"seed", "--seed", seed, "--pool", "file:" + pool}, args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "entropy-sink: ") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
		if args[0] == "--credit" && !strings.Contains(stderr, "hint: --credit takes 0 to 512 bits") {
			t.Errorf("%v: no hint: %s", args, stderr)
		}
	}
	if !bytes.Equal(fileBytes(t, seed), before) || len(fileBytes(t, pool)) != 128 {
		t.Fatal("a usage error changed the seed or fed the pool")
	}
	// A folder is no seed: exit 1. A seed in a missing folder is missing.
	code, _, stderr = run(t, defaultEnv(), "seed", "--seed", dir, "--pool", "file:"+pool)
	if code != 1 || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("a folder: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, defaultEnv(), "seed", "--seed", filepath.Join(dir, "missing-folder", "seed"), "--pool", "file:"+pool)
	if code != 0 {
		t.Errorf("a seed in a missing folder: exit %d: %s", code, stderr)
	}
	// A pool that cannot be opened: exit 1, and the seed stays.
	os.Chmod(seed, 0o644)
	code, out, _ = run(t, defaultEnv(), "seed", "--seed", seed, "--pool", "file:"+filepath.Join(dir, "no-folder", "pool"))
	if code != 1 || out != "" {
		t.Fatalf("pool that cannot be opened: exit %d: %s", code, out)
	}
	if !bytes.Equal(fileBytes(t, seed), before) {
		t.Fatal("the seed was replaced although the pool could not be opened")
	}

	code, out, _ = run(t, defaultEnv(), "seed", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit status:") {
		t.Fatalf("help: exit %d\n%s", code, out)
	}
}

func TestDescribeSeed(t *testing.T) {
	now := time.Unix(1700007200, 0)
	fed := func(v sink.BootSeedVerdict, detail string, credit, credited int, withheld bool) *sink.BootSeedFed {
		return &sink.BootSeedFed{
			BootSeedInfo: sink.BootSeedInfo{Path: "/s", Verdict: v, Detail: detail, Mixed: time.Unix(1700000000, 0)},
			Fed:          64, Credit: credit, Credited: credited, Withheld: withheld,
		}
	}
	for _, c := range []struct {
		r    *sink.BootSeedFed
		pool string
		want string
	}{
		{fed(sink.SeedCredited, "", 256, 256, false), "kernel", "/s: fed 64 bytes, credited 256 bits; last chunk mixed in 2h0m0s ago"},
		{fed(sink.SeedCredited, "", 256, 0, false), "kernel", "/s: fed 64 bytes, not credited: the kernel refused RNDADDENTROPY (no CAP_SYS_ADMIN?); last chunk mixed in 2h0m0s ago"},
		{fed(sink.SeedCredited, "", 256, 0, false), "file:/p", "/s: fed 64 bytes to file:/p (a file pool credits nothing; the kernel would be asked for 256 bits); last chunk mixed in 2h0m0s ago"},
		{fed(sink.SeedCredited, "", 0, 0, false), "kernel", "/s: fed 64 bytes, not credited: --credit 0; last chunk mixed in 2h0m0s ago"},
		{fed(sink.SeedClone, "", 0, 0, false), "kernel", "/s: fed 64 bytes, not credited: written on another machine (a cloned disk?); last chunk mixed in 2h0m0s ago"},
		{fed(sink.SeedOpenMode, "mode 0644", 0, 0, true), "kernel", "/s: fed 64 bytes, not credited: open to group or others (mode 0644); its replacement stays uncredited until the sink mixes in a chunk; last chunk mixed in 2h0m0s ago"},
	} {
		if got := describeSeed(c.r, c.pool, now); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func TestBootSeedStatus(t *testing.T) {
	now := time.Unix(1700007200, 0)
	info := func(v sink.BootSeedVerdict, detail string, mixed int64) *sink.BootSeedInfo {
		i := &sink.BootSeedInfo{Path: "/s", Verdict: v, Detail: detail}
		if mixed != 0 {
			i.Mixed = time.Unix(mixed, 0)
		}
		return i
	}
	for _, c := range []struct {
		info *sink.BootSeedInfo
		err  error
		want string
	}{
		{info(sink.SeedMissing, "", 0), nil, "boot seed: /s (none yet: the sink writes one when it accepts a chunk)"},
		{info(sink.SeedCredited, "", 1700000000), nil, "boot seed: /s (last chunk mixed in 2h0m0s ago, at 2023-11-14T22:13:20Z; entropy-sink seed would credit it)"},
		{info(sink.SeedOpenMode, "mode 0644", 1700000000), nil, "boot seed: /s (last chunk mixed in 2h0m0s ago, at 2023-11-14T22:13:20Z; entropy-sink seed would not credit it: open to group or others (mode 0644))"},
		{info(sink.SeedClone, "", 1700000000), nil, "boot seed: /s (last chunk mixed in 2h0m0s ago, at 2023-11-14T22:13:20Z; entropy-sink seed would not credit it: written on another machine (a cloned disk?))"},
		{info(sink.SeedNoIdentity, "", 0), nil, "boot seed: /s (never held a received chunk; entropy-sink seed would not credit it: carries no machine identity (an earlier boot found it unsafe, or it was written without a machine ID))"},
		{nil, errors.New("sink: boot seed: open /s: permission denied"), "boot seed: /s (cannot judge it: sink: boot seed: open /s: permission denied)"},
	} {
		if got := bootSeedStatus("/s", c.info, c.err, now); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

// The real binary, killed with SIGKILL at random points of its run, never
// feeds the same bytes twice: it replaces the seed durably before it feeds
// it. The pool is a file, so what was fed can be read back; every feed is
// one 64-byte write. The seed starts as the sink wrote it on accepting a
// frame, so every run takes the credited path (on a machine with a machine
// ID: a file pool credits nothing, but the verdict is the kernel's).
func TestSeedSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it hundreds of times")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "entropy-sink")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	seed := filepath.Join(data, sink.DefaultBootSeedName)
	pool := filepath.Join(dir, "fed.bin") // the sink feeds pool.bin
	cfg := writeConfig(t, dir, "text")
	addr, _, stop := server(t, "-f", cfg, "--state", filepath.Join(data, "sink.state"))
	if st := sendFrame(t, addr.String(), sealFrame(t, 1)); st != packet.StatusAccepted {
		t.Fatalf("frame: %s", st)
	}
	if code, logs := stop(); code != 0 {
		t.Fatalf("sink: exit %d\n%s", code, logs)
	}
	// The seed proper: bytes 56 to 119 of the file (sink/bootseed.go).
	start := bytes.Clone(fileBytes(t, seed)[56:120])
	verdict := "(a file pool credits nothing; the kernel would be asked for 256 bits)"
	if !hostHasMachineID() {
		verdict = "not credited: carries no machine identity"
	}
	var outs []*bytes.Buffer
	runSeed := func() *exec.Cmd {
		cmd := exec.Command(bin, "seed", "--seed", seed, "--pool", "file:"+pool)
		out := &bytes.Buffer{}
		cmd.Stdout = out
		outs = append(outs, out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	credited := 0
	checkOut := func() {
		t.Helper()
		if out := outs[len(outs)-1].String(); !strings.Contains(out, verdict) {
			t.Fatalf("a completed run said %q, want %q", out, verdict)
		}
		credited++
	}

	// How long a whole run takes here, to spread the kills over it.
	var runs []time.Duration
	for range 5 {
		t0 := time.Now()
		if err := runSeed().Wait(); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, time.Since(t0))
		checkOut()
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
	span := runs[len(runs)/2] * 3 / 2
	// Each killed run is classed by what it left: nothing changed (killed
	// before the replace), the seed replaced but nothing fed (killed
	// between the two), or both. A feed without a replace must never show.
	completed, killed := 5, 0
	var before, between, after int
	const n = 200
	for range n {
		seedBefore, poolBefore := fileBytes(t, seed), len(fileBytes(t, pool))
		d, _ := rand.Int(rand.Reader, big.NewInt(int64(span)))
		cmd := runSeed()
		time.Sleep(time.Duration(d.Int64()))
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil {
			completed++
			checkOut()
			continue
		}
		killed++
		replaced, fed := !bytes.Equal(fileBytes(t, seed), seedBefore), len(fileBytes(t, pool)) > poolBefore
		switch {
		case !replaced && !fed:
			before++
		case replaced && !fed:
			between++
		case replaced && fed:
			after++
		default:
			t.Fatal("a run fed the seed without replacing it first")
		}
	}
	if err := runSeed().Wait(); err != nil {
		t.Fatal(err)
	}
	completed++
	checkOut()
	t.Logf("%d runs completed, each %s; %d killed (%d before the replace, %d between replace and feed, %d after the feed), spread over %v",
		completed, verdict, killed, before, between, after, span)
	if killed < n/10 {
		t.Errorf("only %d of %d runs were killed before they finished", killed, n)
	}

	fed := fileBytes(t, pool)
	if len(fed)%64 != 0 {
		t.Fatalf("pool holds %d bytes: a torn feed", len(fed))
	}
	seen := map[string]int{}
	for i := 0; i < len(fed); i += 64 {
		rec := string(fed[i : i+64])
		if j, ok := seen[rec]; ok {
			t.Fatalf("feed %d repeats feed %d", i/64, j)
		}
		seen[rec] = i / 64
	}
	if len(seen) < completed || len(seen) > completed+killed {
		t.Fatalf("%d feeds for %d completed and %d killed runs", len(seen), completed, killed)
	}
	if !bytes.Equal(fed[:64], start) {
		t.Fatal("the first feed is not the seed the sink wrote")
	}
	// What the file holds now has not been fed, and nothing is left over.
	last := fileBytes(t, seed)
	for rec := range seen {
		if bytes.Contains(last, []byte(rec)) {
			t.Fatal("the seed file holds bytes that were already fed")
		}
	}
	if got := strings.Join(dirNames(t, data), " "); got != "boot-seed sink.state" {
		t.Fatalf("left in the seed's folder: %s", got)
	}
	if credited != completed {
		t.Fatalf("%d of %d completed runs checked", credited, completed)
	}
}
