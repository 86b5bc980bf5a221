package main

// Tests of the real binary against sources that would hang a run: a
// plugin that sleeps, named pipes with no writer, an oversized plugin.
// Each starts entropy-source as cron would and checks that the run ends
// in bounded time, with the right error and exit status, and that
// SIGTERM ends it at once.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source/sourcetest"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// sourceBinary builds entropy-source into a folder of the test's.
func sourceBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	bin := filepath.Join(t.TempDir(), "entropy-source")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// watPlugin builds a plugin from the harvest package's testdata with
// wat2wasm, skipping the test without it unless ENTROPYSHARE_TOOLS=required.
func watPlugin(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		if os.Getenv("ENTROPYSHARE_TOOLS") == "required" {
			t.Fatalf("wat2wasm is required (ENTROPYSHARE_TOOLS=required): %v", err)
		}
		t.Skip("wat2wasm not installed (Debian wabt)")
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".wat")+".wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join("..", "..", "harvest", "testdata", name), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	return out
}

// proc is a started entropy-source.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start          time.Time
	done           chan struct{}
	code           int
	took           time.Duration
}

// startBinary starts bin with args, with HOME in a folder of the test's
// (the plugin cache's default place).
func startBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CACHE_HOME=")
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.took = time.Since(p.start)
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits up to limit for the process to end, and fails the test (and
// kills it) if it has not.
func (p *proc) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("still running after %s (killed)\nstdout:\n%s\nstderr:\n%s", limit, &p.stdout, &p.stderr)
	}
}

// sigterm waits for the process to have run for after, sends it SIGTERM
// and returns how long it took to exit from then, within limit.
func (p *proc) sigterm(t *testing.T, after, limit time.Duration) time.Duration {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("ended before SIGTERM: exit %d\n%s\n%s", p.code, &p.stdout, &p.stderr)
	case <-time.After(time.Until(p.start.Add(after))):
	}
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t, limit)
	return p.took - sent.Sub(p.start)
}

// runSetup is a signer key and a targets file with one due OK sink.
func runSetup(t *testing.T) (key, targets string, sink *sourcetest.Sink) {
	t.Helper()
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	sink = sourcetest.Start(t, sourcetest.OK, pub)
	targets = filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(sink, nil)})
	return filepath.Join(dir, "signer.key"), targets, sink
}

// TestBinaryPluginSleep: a plugin that sleeps 60 s in WASI poll_oneoff is
// stopped at its 1s limit and the table says so; the run goes on.
func TestBinaryPluginSleep(t *testing.T) {
	bin := sourceBinary(t)
	plugin := watPlugin(t, "sleep.wat")
	p := startBinary(t, bin, "sources", "--sources", "kernel", "--plugin", plugin, "--plugin-timeout", "1s")
	p.wait(t, 30*time.Second)
	t.Logf("a plugin sleeping 60 s with --plugin-timeout 1s: the run took %s", p.took.Round(time.Millisecond))
	if p.code != 0 || !strings.Contains(p.stdout.String(), "harvest: plugin:sleep: ran past its time limit: stopped after 1s") {
		t.Errorf("exit %d\n%s\n%s", p.code, &p.stdout, &p.stderr)
	}
}

// TestBinarySIGTERMPluginSleep: SIGTERM during a plugin's sleep ends a
// run at once (within 2 s), well before the plugin's limit; nothing is
// sent and the exit status is 143.
func TestBinarySIGTERMPluginSleep(t *testing.T) {
	bin := sourceBinary(t)
	plugin := watPlugin(t, "sleep.wat")
	key, targets, sink := runSetup(t)
	p := startBinary(t, bin, "-k", key, "-t", targets, "--sources", "kernel", "--plugin", plugin, "--plugin-timeout", "2m")
	took := p.sigterm(t, time.Second, 2*time.Second)
	t.Logf("SIGTERM during a plugin's sleep: exit %d after %s\n%s", p.code, took.Round(time.Millisecond), &p.stderr)
	if p.code != 143 || !strings.Contains(p.stderr.String(), "interrupted by SIGTERM") {
		t.Errorf("exit %d\n%s\n%s", p.code, &p.stdout, &p.stderr)
	}
	if got := sink.Received(); len(got) != 0 {
		t.Errorf("sink received %v", got)
	}
}

// TestBinaryFIFOSourceFile: a --source-file that is a named pipe with no
// writer costs the run its --source-timeout, is reported, and the run
// goes on (exit 0).
func TestBinaryFIFOSourceFile(t *testing.T) {
	bin := sourceBinary(t)
	pipe := testtool.Fifo(t, "pipe")
	p := startBinary(t, bin, "sources", "--sources", "kernel", "--source-file", pipe, "--source-timeout", "1s")
	p.wait(t, 30*time.Second)
	t.Logf("--source-file a named pipe with no writer, --source-timeout 1s: exit %d after %s", p.code, p.took.Round(time.Millisecond))
	want := "harvest: file:pipe: reading " + pipe + ": nothing was written to the named pipe before the time limit: context deadline exceeded"
	if p.code != 0 || !strings.Contains(p.stdout.String(), want) {
		t.Errorf("exit %d, want 0 and %q\n%s\n%s", p.code, want, &p.stdout, &p.stderr)
	}
}

// TestBinaryFIFOSeed: a seed file (-s) that is a named pipe is a
// configuration error (exit 2) found before anything is sent.
func TestBinaryFIFOSeed(t *testing.T) {
	bin := sourceBinary(t)
	key, targets, sink := runSetup(t)
	seed := testtool.Fifo(t, "seed")
	p := startBinary(t, bin, "-k", key, "-t", targets, "-s", seed)
	p.wait(t, 30*time.Second)
	t.Logf("-s a named pipe: exit %d after %s: %s", p.code, p.took.Round(time.Millisecond), &p.stderr)
	want := "entropy-source: harvest: reading seed file: " + seed + ": is a named pipe; want a regular file\n"
	if p.code != 2 || p.stderr.String() != want || p.stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", p.code, &p.stdout, &p.stderr, want)
	}
	if got := sink.Received(); len(got) != 0 {
		t.Errorf("sink received %v", got)
	}
	// harvest and sources read the seed file the same way.
	for _, sub := range []string{"harvest", "sources"} {
		p := startBinary(t, bin, sub, "--sources", "kernel", "-s", seed)
		p.wait(t, 30*time.Second)
		if p.code != 2 || p.stderr.String() != want {
			t.Errorf("%s: exit %d, stderr %q", sub, p.code, &p.stderr)
		}
	}
}

// TestBinaryFIFOPlugin: a --plugin that is a named pipe is skipped with
// a line in the table; the run goes on.
func TestBinaryFIFOPlugin(t *testing.T) {
	bin := sourceBinary(t)
	plugin := testtool.Fifo(t, "pipe.wasm")
	p := startBinary(t, bin, "sources", "--sources", "kernel", "--plugin", plugin)
	p.wait(t, 30*time.Second)
	t.Logf("--plugin a named pipe: exit %d after %s", p.code, p.took.Round(time.Millisecond))
	want := "harvest: plugin:pipe: " + plugin + ": is a named pipe; want a regular file"
	if p.code != 0 || !strings.Contains(p.stdout.String(), want) {
		t.Errorf("exit %d, want 0 and %q\n%s\n%s", p.code, want, &p.stdout, &p.stderr)
	}
}

// TestBinarySIGTERMFIFOSourceFile: SIGTERM while a run waits on a named
// pipe's writer ends it at once (within 2 s); nothing is sent, exit 143.
func TestBinarySIGTERMFIFOSourceFile(t *testing.T) {
	bin := sourceBinary(t)
	key, targets, sink := runSetup(t)
	pipe := testtool.Fifo(t, "pipe")
	p := startBinary(t, bin, "-k", key, "-t", targets, "--sources", "kernel", "--source-file", pipe, "--source-timeout", "2m")
	took := p.sigterm(t, time.Second, 2*time.Second)
	t.Logf("SIGTERM while reading a named pipe: exit %d after %s\n%s", p.code, took.Round(time.Millisecond), &p.stderr)
	if p.code != 143 || !strings.Contains(p.stderr.String(), "interrupted by SIGTERM") {
		t.Errorf("exit %d\n%s\n%s", p.code, &p.stdout, &p.stderr)
	}
	if got := sink.Received(); len(got) != 0 {
		t.Errorf("sink received %v", got)
	}
}

// bigModule writes a plugin of about size bytes that is slow to compile
// (harvest/testdata/bigmodule).
func bigModule(t *testing.T, size int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "big.wasm")
	cmd := exec.Command("go", "run", ".", "-size", strconv.Itoa(size), "-o", out)
	cmd.Dir = filepath.Join("..", "..", "harvest", "testdata", "bigmodule")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bigmodule: %v\n%s", err, b)
	}
	return out
}

// TestBinaryPluginTooLarge: a 24 MB plugin is skipped at the default
// 8 MiB cap, with a line in the table, and the run goes on; raising the
// cap with --plugin-max-size lets it be compiled, under its time limit.
func TestBinaryPluginTooLarge(t *testing.T) {
	bin := sourceBinary(t)
	big := bigModule(t, 24_000_000)
	p := startBinary(t, bin, "sources", "--sources", "kernel", "--plugin", big)
	p.wait(t, time.Minute)
	t.Logf("a 24 MB plugin at the default cap: exit %d, run %s", p.code, p.took.Round(time.Millisecond))
	want := "harvest: plugin:big: module too large: " + big + " is 23999981 bytes, over the limit of 8388608 (8 MiB)"
	if p.code != 0 || !strings.Contains(p.stdout.String(), want) {
		t.Errorf("exit %d, want 0 and %q\n%s\n%s", p.code, want, &p.stdout, &p.stderr)
	}

	p = startBinary(t, bin, "sources", "--sources", "kernel", "--plugin", big, "--plugin-max-size", "33554432", "--plugin-timeout", "200ms")
	p.wait(t, time.Minute)
	t.Logf("the same, --plugin-max-size 32 MiB and --plugin-timeout 200ms: exit %d, run %s", p.code, p.took.Round(time.Millisecond))
	if want := "harvest: plugin:big: ran past its time limit: gave up compiling it after 200ms"; p.code != 0 || !strings.Contains(p.stdout.String(), want) {
		t.Errorf("exit %d, want 0 and %q\n%s\n%s", p.code, want, &p.stdout, &p.stderr)
	}
}

// TestBinaryPluginCompileLimit: a plugin under the size cap that takes
// longer to compile than its time limit is given up on at the limit
// (wazero cannot stop a compile; it is abandoned), and the run goes on.
func TestBinaryPluginCompileLimit(t *testing.T) {
	bin := sourceBinary(t)
	big := bigModule(t, 8_000_000) // about 2 s to compile here
	key, targets, sink := runSetup(t)
	p := startBinary(t, bin, "-k", key, "-t", targets, "--verbose", "--sources", "kernel", "--plugin", big, "--plugin-timeout", "200ms")
	p.wait(t, time.Minute)
	t.Logf("an 8 MB plugin, --plugin-timeout 200ms: exit %d, run %s\n%s", p.code, p.took.Round(time.Millisecond), &p.stdout)
	if p.code != 0 || len(sink.Accepted()) != 1 {
		t.Errorf("exit %d, accepted %v\n%s\n%s", p.code, sink.Accepted(), &p.stdout, &p.stderr)
	}
	p = startBinary(t, bin, "sources", "--sources", "kernel", "--plugin", big, "--plugin-timeout", "200ms")
	p.wait(t, time.Minute)
	if want := "harvest: plugin:big: ran past its time limit: gave up compiling it after 200ms"; p.code != 0 || !strings.Contains(p.stdout.String(), want) {
		t.Errorf("exit %d, want 0 and %q\n%s\n%s", p.code, want, &p.stdout, &p.stderr)
	}
}

// TestBinaryFIFOKeyAndTargets: a signer key (-k) or a targets file (-t)
// that is a named pipe with no writer is refused at once (exit 2), not
// waited on: before, open() blocked past every timeout and SIGTERM.
func TestBinaryFIFOKeyAndTargets(t *testing.T) {
	bin := sourceBinary(t)
	key, targets, sink := runSetup(t)
	pipe := testtool.Fifo(t, "pipe")
	for _, args := range [][]string{{"-k", pipe, "-t", targets}, {"-k", key, "-t", pipe}, {"check", "-k", key, "-t", pipe}} {
		p := startBinary(t, bin, args...)
		p.wait(t, 10*time.Second)
		want := pipe + ": is a named pipe; want a regular file"
		if p.code != 2 || !strings.Contains(p.stderr.String(), want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", args, p.code, &p.stderr, want)
		}
	}
	if got := sink.Received(); len(got) != 0 {
		t.Errorf("sink received %v", got)
	}
}
