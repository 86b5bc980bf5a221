package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/source/sourcetest"
	"github.com/spf13/pflag"
)

func TestHarvestFlags(t *testing.T) {
	var c harvest.Config
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addHarvestFlags(fs, &c)
	err := fs.Parse([]string{
		"--plugin", "a.wasm", "--plugin", "b.wasm",
		"--source-file", "/dev/video0", "--source-command", "arecord -f S16_LE -d 1 -t raw",
		"--credit", "plugin:a=2", "--credit", "kernel=4",
		"--min-bits", "512", "--no-jitter", "--sources", "kernel,hwrng", "--wasm-cache", "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Plugins, ",") != "a.wasm,b.wasm" || strings.Join(c.Files, ",") != "/dev/video0" ||
		strings.Join(c.Commands, ",") != "arecord -f S16_LE -d 1 -t raw" || c.Credit["plugin:a"] != 2 || c.Credit["kernel"] != 4 ||
		c.MinBits != 512 || !c.NoJitter || strings.Join(c.Sources, ",") != "kernel,hwrng" || c.WasmCache != "off" {
		t.Fatalf("%+v", c)
	}
	for _, bad := range [][]string{
		{"--credit", "x=9"}, {"--credit", "x"}, {"--credit", "x=NaN"}, {"--credit", "=1"},
		{"--sources", "kernel,nope"}, {"--plugin", ""},
	} {
		var d harvest.Config
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.SetOutput(new(bytes.Buffer))
		addHarvestFlags(fs, &d)
		if d.MinBits != harvest.DefaultMinBits {
			t.Fatalf("default --min-bits %d", d.MinBits)
		}
		if err := fs.Parse(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// TestSourcesSeed: sources reads, mixes and rewrites the seed file -s
// names, as a run does, and says so in its table.
func TestSourcesSeed(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed")
	before := bytes.Repeat([]byte{7}, 32)
	if err := os.WriteFile(seed, before, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, testEnv(), "sources", "-s", seed, "--sources", "kernel")
	if code != 0 || !strings.Contains(out, "seed file: rewritten") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	after, err := os.ReadFile(seed)
	if err != nil || len(after) != 32 || bytes.Equal(after, before) {
		t.Fatalf("seed file not rewritten: %x, %v", after, err)
	}
	// Without -s there is no seed file.
	code, out, _ = run(t, testEnv(), "sources", "--sources", "kernel")
	if code != 0 || !strings.Contains(out, "seed file: none") {
		t.Fatalf("no seed: exit %d\n%s", code, out)
	}
}

// TestSeedPermissions: a seed file group or others can read is a
// configuration error (exit 2) with one line naming the chmod that fixes
// it, for a run (checked before anything is due) and for harvest and
// sources; nothing is sent and no file changes.
func TestSeedPermissions(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	before := sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(s, nil)})
	seed := filepath.Join(dir, "x.seed")
	old := bytes.Repeat([]byte{1}, 32)
	if err := os.WriteFile(seed, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(seed, 0o644); err != nil {
		t.Fatal(err)
	}
	want := "entropy-source: harvest: reading seed file: " + seed + ": mode 0644 lets group or others read it (fix: chmod 600 " + seed + ")\n"
	for _, args := range [][]string{
		{"-k", filepath.Join(dir, "signer.key"), "-t", targets, "-s", seed},
		{"harvest", "-s", seed},
		{"sources", "-s", seed},
	} {
		code, out, errs := run(t, testEnv(), args...)
		if code != 2 || errs != want || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", args, code, out, errs, want)
		}
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(before, after) || len(s.Received()) != 0 {
		t.Fatal("something was sent or written")
	}
	if now, _ := os.ReadFile(seed); !bytes.Equal(now, old) {
		t.Fatal("the seed file changed")
	}
}

// TestUnknownSource: an unknown --sources name is a usage error (exit 2),
// found as the flags are parsed.
func TestUnknownSource(t *testing.T) {
	for _, c := range []struct {
		args []string
		help string
	}{
		{[]string{"--sources", "kernel,nope"}, "entropy-source"},
		{[]string{"harvest", "--sources", "nope"}, "entropy-source harvest"},
		{[]string{"sources", "--sources", "nope"}, "entropy-source sources"},
	} {
		code, out, errs := run(t, testEnv(), c.args...)
		want := `entropy-source: invalid argument "` + c.args[len(c.args)-1] + `" for "--sources" flag: unknown source "nope" (want some of kernel, jitter, hwrng, adc, thermal, tpm)` + "\n" +
			"hint: see '" + c.help + " --help'\n"
		if code != 2 || errs != want || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errs, want)
		}
	}
}

// TestUnknownCreditName: a --credit NAME that names no source (a typo of
// a plugin's or a built-in source's name) is a configuration error
// (exit 2) naming the closest name, rather than a source left
// uncredited; a run sends nothing.
func TestUnknownCreditName(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	before := sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(s, nil)})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sources", "--sources", "kernel", "--credit", "kernal=2"}, `credit for "kernal": no source has that name (did you mean "kernel"?)`},
		{[]string{"harvest", "--sources", "kernel", "--source-file", "/dev/urandom", "--credit", "file:urandon=1"},
			`credit for "file:urandon": no source has that name (did you mean "file:urandom"?); the names are kernel, jitter, hwrng, adc, thermal, tpm, file:urandom`},
		{[]string{"-k", filepath.Join(dir, "signer.key"), "-t", targets, "--sources", "kernel", "--credit", "kernal=2"}, `(did you mean "kernel"?)`},
	} {
		code, out, errs := run(t, testEnv(), c.args...)
		if code != 2 || !strings.Contains(errs, c.want) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errs, c.want)
		}
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(before, after) || len(s.Received()) != 0 {
		t.Fatal("something was sent or written")
	}
	// A built-in source's name is allowed even when it does not run.
	if code, out, errs := run(t, testEnv(), "sources", "--sources", "kernel", "--credit", "hwrng=1"); code != 0 {
		t.Errorf("--credit hwrng=1 without hwrng: exit %d\n%s%s", code, out, errs)
	}
}
