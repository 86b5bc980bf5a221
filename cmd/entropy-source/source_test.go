package main

import (
	"bytes"
	"crypto/rsa"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source"
	"github.com/entropyshare/entropyshare/source/sourcetest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// keyFile copies the original's signer key into dir with mode 0600 (git
// keeps no modes) and returns its path.
func keyFile(t testing.TB, dir string) string {
	t.Helper()
	data := vectors.Read(t, "signer.key")
	path := filepath.Join(dir, "signer.key")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testEnv is the environment of a command in a test: no signals.
func testEnv() env {
	return env{signals: func() (<-chan os.Signal, func()) { return nil, func() {} }, now: time.Now}
}

func run(t *testing.T, e env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Execute(newCommand(e), args, &out, &errb)
	return code, out.String(), errb.String()
}

func signerPublic(t testing.TB, dir string) *rsa.PublicKey {
	t.Helper()
	k, err := keys.LoadRSAPrivate(keyFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"harvest", "--help"}, {"sources", "--help"}, {"send", "--help"}} {
		code, out, _ := run(t, testEnv(), args...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit status:") || !strings.Contains(out, "3  not enough healthy entropy") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
		if !strings.Contains(out, "130, 143") {
			t.Errorf("%v: exit status of an interrupted run not documented\n%s", args, out)
		}
	}
	for _, args := range [][]string{{"status", "--help"}, {"check", "--help"}} {
		code, out, _ := run(t, testEnv(), args...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit status:") || !strings.Contains(out, "2  ") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// TestShortFlags: only the original's single letters are short forms
// (-k, -t, -s here); -v and -n are gone.
func TestShortFlags(t *testing.T) {
	root := newCommand(testEnv())
	var check func(c *cobra.Command)
	check = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if f.Shorthand != "" && !strings.Contains("kts", f.Shorthand) {
					t.Errorf("%s: --%s has the short form -%s", c.CommandPath(), f.Name, f.Shorthand)
				}
			})
		}
		for _, sub := range c.Commands() {
			check(sub)
		}
	}
	check(root)
	for _, args := range [][]string{{"-v"}, {"harvest", "-n", "1"}} {
		if code, _, errs := run(t, testEnv(), args...); code != 2 || !strings.Contains(errs, "unknown shorthand flag") {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
	}
}

// TestFanOutExitCode: ok, down, slow, stale and original sinks; exit 1,
// a line per target, and a quiet exit 0 once only delivered ones remain.
func TestFanOutExitCode(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	var entries []map[string]any
	var sinks []*sourcetest.Sink
	for _, m := range []sourcetest.Mode{sourcetest.OK, sourcetest.Down, sourcetest.Slow, sourcetest.Stale, sourcetest.Original} {
		s := sourcetest.Start(t, m, pub, sourcetest.WithDelay(time.Second))
		sinks = append(sinks, s)
		entries = append(entries, sourcetest.Entry(s, map[string]any{"Name": m.String()}))
	}
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, entries)
	code, out, errs := run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--timeout", "300ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"ok (", "down (" + sinks[1].Addr + "): FAILED, counter 1", "slow (", "stale (", "after following the sink's counter", "original (", "no reply"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "entropy-source: 2 of 5 due targets failed") {
		t.Errorf("stderr: %s", errs)
	}
	// Only the failed ones are due again (in a minute): a run now sends nothing.
	code, out, errs = run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets)
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--verbose")
	if code != 0 || !strings.Contains(out, "nothing due of 5 targets") {
		t.Fatalf("verbose run: exit %d\n%s", code, out)
	}
	for _, s := range sinks {
		s.Close()
		s.CheckUnique(t)
	}
}

// TestBadInput: broken targets files and signer keys are configuration
// errors (exit 2) with a clear message, and no file changes.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	good := `[{"Address":"127.0.0.1:1","Public":"ey7zgZ422whZvIkoAAEsz/+EgecB19gtAMCFNiPDnXU="}]`
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	keyData, _ := os.ReadFile(key)
	priv, err := keys.ParseRSAPrivate(keyData)
	if err != nil {
		t.Fatal(err)
	}
	pubData, err := keys.MarshalRSAPublic(&priv.PublicKey, keys.Raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		key, targets string
		want, hint   string
	}{
		{"missing targets", key, filepath.Join(dir, "none.json"), "no such file", "entropy-target"},
		{"empty targets", key, write("empty.json", "", 0o644), "file is empty", ""},
		{"truncated targets", key, write("trunc.json", good[:40], 0o644), "ends too early", ""},
		{"wrong type", key, write("type.json", `[{"Address":"a:1","Public":"ey7zgZ422whZvIkoAAEsz/+EgecB19gtAMCFNiPDnXU=","Counter":"1"}]`, 0o644), "entry 0 (Address \"a:1\"): field Counter", ""},
		{"missing key", filepath.Join(dir, "nokey"), write("t1.json", good, 0o644), "no such file", "rsagen"},
		{"world-readable key", write("open.key", string(keyData), 0o644), write("t2.json", good, 0o644), "chmod 600", ""},
		{"not a key", write("junk.key", "junk", 0o600), write("t3.json", good, 0o644), "not a key", ""},
		{"public key for the signer", write("signer.pub", string(pubData), 0o644), write("t5.json", good, 0o644), "holds a public key; give the private key, " + filepath.Join(dir, "signer.key"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.targets)
			code, out, errs := run(t, testEnv(), "-k", tc.key, "-t", tc.targets)
			if code != 2 || !strings.HasPrefix(errs, "entropy-source: ") || !strings.Contains(errs, tc.want) || !strings.Contains(errs, tc.hint) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errs, tc.want)
			}
			after, _ := os.ReadFile(tc.targets)
			if !bytes.Equal(before, after) {
				t.Errorf("targets file changed")
			}
		})
	}
	t.Run("unreadable key", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any file")
		}
		p := write("locked.key", string(keyData), 0o600)
		os.Chmod(p, 0)
		code, _, errs := run(t, testEnv(), "-k", p, "-t", write("t4.json", good, 0o644))
		if code != 2 || !strings.Contains(errs, "permission denied") {
			t.Errorf("exit %d: %s", code, errs)
		}
	})
}

func TestInsufficientExit3(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	before := sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(s, nil)})
	// The real harvest, asked for more than any local source credits.
	code, _, errs := run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--min-bits", "1000000")
	if code != 3 || !strings.Contains(errs, "not enough healthy entropy") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(before, after) || len(s.Received()) != 0 {
		t.Fatal("something was sent or written")
	}
	if code, _, _ := run(t, testEnv(), "harvest", "--min-bits", "1000000"); code != 3 {
		t.Fatalf("harvest: exit %d", code)
	}
	if code, out, _ := run(t, testEnv(), "sources", "--min-bits", "1000000"); code != 3 || !strings.Contains(out, "kernel") {
		t.Fatalf("sources: exit %d: %s", code, out)
	}
}

func TestHarvestAndSources(t *testing.T) {
	code, out, errs := run(t, testEnv(), "harvest", "--bytes", "32")
	if code != 0 || len(out) != 32 {
		t.Fatalf("harvest: exit %d, %d bytes, %s", code, len(out), errs)
	}
	code, out, _ = run(t, testEnv(), "harvest", "--bytes", "16", "--hex")
	if code != 0 || len(strings.TrimSpace(out)) != 32 {
		t.Fatalf("harvest --hex: exit %d, %q", code, out)
	}
	code, out, _ = run(t, testEnv(), "sources")
	if code != 0 || !strings.Contains(out, "kernel") || !strings.Contains(out, "jitter") {
		t.Fatalf("sources: exit %d, %q", code, out)
	}
}

// TestDaemon: --daemon runs at once, keeps going, and stops with exit 0
// at SIGTERM.
func TestDaemon(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(s, nil)})
	sigs := make(chan os.Signal, 1)
	e := testEnv()
	e.signals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
	go func() {
		for len(s.Accepted()) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		sigs <- syscall.SIGTERM
	}()
	code, _, errs := run(t, e, "--daemon", "-k", filepath.Join(dir, "signer.key"), "-t", targets)
	if code != 0 || !slices.Equal(s.Accepted(), []int64{1}) {
		t.Fatalf("exit %d, accepted %v: %s", code, s.Accepted(), errs)
	}
}

// TestKilled builds the binary, runs it against test sinks and SIGKILLs it
// at random moments, many times. After every kill the targets file parses,
// no counter went backwards, every counter a sink saw is at most the
// file's, and no sink ever receives a counter twice.
func TestKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "entropy-source")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pub := signerPublic(t, dir)
	var sinks []*sourcetest.Sink
	var entries []map[string]any
	for _, m := range []sourcetest.Mode{sourcetest.OK, sourcetest.OK, sourcetest.OK, sourcetest.Stale, sourcetest.Original} {
		s := sourcetest.Start(t, m, pub)
		sinks = append(sinks, s)
		entries = append(entries, sourcetest.Entry(s, map[string]any{"Keep": m.String()}))
	}
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, entries)
	last := make([]int64, len(sinks))
	check := func(i int) {
		t.Helper()
		ts, err := source.LoadTargets(targets)
		if err != nil {
			t.Fatalf("iteration %d: targets file broken: %v", i, err)
		}
		for k, tg := range ts.Entries {
			if tg.Counter < last[k] {
				t.Fatalf("iteration %d: counter of %d went back from %d to %d", i, k, last[k], tg.Counter)
			}
			last[k] = tg.Counter
			for _, c := range sinks[k].Received() {
				if c > tg.Counter {
					t.Fatalf("iteration %d: sink %d received counter %d above the file's %d", i, k, c, tg.Counter)
				}
			}
			data, _ := tg.MarshalEntry()
			if !bytes.Contains(data, []byte(`"Keep"`)) {
				t.Fatalf("iteration %d: unknown field lost", i)
			}
			tg.Next = 0 // due again next time
		}
		if err := ts.Save(targets); err != nil {
			t.Fatal(err)
		}
	}
	temps := func() int {
		t.Helper()
		names, err := filepath.Glob(filepath.Join(dir, ".targets.json[0-9]*"))
		if err != nil {
			t.Fatal(err)
		}
		return len(names)
	}
	iterations, leftBehind := 40, 0
	for i := range iterations {
		cmd := exec.Command(bin, "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--concurrency", "2")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		leftBehind = max(leftBehind, temps())
		check(i)
	}
	// A run that is left alone completes.
	cmd := exec.Command(bin, "-k", filepath.Join(dir, "signer.key"), "-t", targets)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	check(iterations)
	// Kills leave temporary files beside the targets file; the next run
	// removes them.
	if n := temps(); n != 0 {
		t.Errorf("%d temporary files left after a complete run", n)
	}
	delivered := 0
	for _, s := range sinks {
		s.Close()
		s.CheckUnique(t)
		delivered += len(s.Accepted())
	}
	t.Logf("%d iterations, %d packets accepted in all, at most %d temporary files left by kills at once", iterations, delivered, leftBehind)
}
