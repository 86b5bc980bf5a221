package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/harvest"
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
