package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/sink"
)

// check prints the sink key's and each signer's fingerprint (what
// sha256sum prints for the raw key files), says whether the state file is
// there, warns of misspellings and a Drift of 0, writes nothing, and exits
// 2 on a configuration or state file the sink would refuse.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "text")
	sum := func(name string) string {
		s := sha256.Sum256(vectors.Read(t, name))
		return "SHA256:" + hex.EncodeToString(s[:])
	}
	state := filepath.Join(dir, "sink.state")

	code, out, stderr := run(t, defaultEnv(), "check", "-f", cfg)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, re := range []string{
		`(?m)^configuration +` + cfg + ` +ok$`,
		`(?m)^sink key +` + sum("sink.pub") + ` +\(sha256sum sink.pub\)$`,
		`(?m)^pool +file:` + dir + `/pool.bin +256 bits credited per chunk$`,
		`(?m)^drift +1099511627776 s$`,
		`(?m)^signer default +` + sum("signer.pub") + `$`,
		`(?m)^state file +` + state + ` +not made yet`,
		`(?m)^descriptors +384 at most +RLIMIT_NOFILE here: [0-9]+$`, // MaxConns 256, 64 busy, 64 files
	} {
		if !matches(re, out) {
			t.Errorf("no line matching %s:\n%s", re, out)
		}
	}
	if names := dirNames(t, dir); strings.Join(names, " ") != "sink.json" {
		t.Fatalf("check wrote %v", names)
	}

	addr, _, stop := server(t, "-f", cfg)
	sendFrame(t, addr.String(), sealFrame(t, 1))
	stop()
	code, out, _ = run(t, defaultEnv(), "check", "-f", cfg)
	if code != 0 || !matches(`(?m)^state file +`+state+` +ok$`, out) {
		t.Fatalf("after a start: exit %d\n%s", code, out)
	}

	// Warnings: exit 0, on stderr, naming both fields.
	editConfig(t, cfg, func(c *sink.Config) { c.Drift = 0 })
	data, _ := os.ReadFile(cfg)
	data = bytes.Replace(data, []byte(`"Address"`), []byte(`"Metric": "127.0.0.1:9438", "Address"`), 1)
	os.WriteFile(cfg, data, 0o600)
	code, out, stderr = run(t, defaultEnv(), "check", "-f", cfg)
	if code != 0 || !matches(`(?m)^metrics +off$`, out) ||
		!strings.Contains(stderr, "entropy-sink: warning: "+cfg+`: unknown field "Metric" is ignored; did you mean "Metrics"?`) ||
		!strings.Contains(stderr, "entropy-sink: warning: "+cfg+": Drift is 0") {
		t.Fatalf("warnings: exit %d\n%s%s", code, out, stderr)
	}

	// What the sink would refuse: exit 2, nothing on stdout.
	bad := writeConfig(t, t.TempDir(), "text")
	editConfig(t, bad, func(c *sink.Config) { c.Address = "127.0.0.1" })
	code, out, stderr = run(t, defaultEnv(), "check", "-f", bad)
	if code != 2 || out != "" || !strings.Contains(stderr, `Address: "127.0.0.1": missing port`) {
		t.Fatalf("address without port: exit %d\n%s%s", code, out, stderr)
	}
	st, _ := os.ReadFile(state)
	st[30] ^= 0xff
	st[4096+30] ^= 0xff
	os.WriteFile(state, st, 0o600)
	code, out, stderr = run(t, defaultEnv(), "check", "-f", cfg)
	if code != 2 || out != "" || !strings.Contains(stderr, state+": damaged") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("damaged state: exit %d\n%s%s", code, out, stderr)
	}
	// --state names another: not made yet, and still nothing written.
	other := filepath.Join(dir, "other.state")
	code, out, _ = run(t, defaultEnv(), "check", "-f", cfg, "--state", other)
	if code != 0 || !matches(`(?m)^state file +`+other+` +not made yet`, out) {
		t.Fatalf("--state: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("check made %s", other)
	}
}

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
