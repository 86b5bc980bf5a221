package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/sink"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Execute(newCommand(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// setup copies the original's keys into a folder (the private one 0600).
func setup(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sink.key"), vectors.Read(t, "sink.key"), 0o600)
	os.WriteFile(filepath.Join(dir, "signer.pub"), vectors.Read(t, "signer.pub"), 0o644)
	return dir
}

// The original's flags and keys give the original's file, byte for byte.
func TestOriginalOutput(t *testing.T) {
	dir := setup(t)
	code, out, stderr := run(t, "-a", "127.0.0.1:4141", "-k", filepath.Join(dir, "sink.key"),
		"-s", filepath.Join(dir, "signer.pub"), "-d", "120")
	if code != 0 || out != string(vectors.Read(t, "sink.json")) {
		t.Fatalf("exit %d\n%s\nwant\n%s\n%s", code, out, vectors.Read(t, "sink.json"), stderr)
	}
	// The original's single-dash long flags work too.
	want := string(vectors.Read(t, "sink.json"))
	t.Chdir(dir)
	code, out, _ = run(t, "-address", "127.0.0.1:4141", "-key", "sink.key", "-signer", "signer.pub")
	if code != 0 || out != want {
		t.Fatalf("legacy flags: exit %d\n%s", code, out)
	}
}

func TestOutputFile(t *testing.T) {
	dir := setup(t)
	t.Chdir(dir)
	args := []string{"-a", ":4141", "-k", "sink.key", "-s", "signer.pub", "-o", "sink.json", "--legacy", "--pool", "file:/tmp/p.bin"}
	if code, out, stderr := run(t, args...); code != 0 || out != "" {
		t.Fatalf("exit %d: %s%s", code, out, stderr)
	}
	fi, _ := os.Stat("sink.json")
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", fi.Mode().Perm())
	}
	c, err := sink.LoadConfig("sink.json")
	if err != nil || !c.Legacy || c.Pool != "file:/tmp/p.bin" || c.Address != ":4141" {
		t.Fatalf("%+v %v", c, err)
	}
	before, _ := os.ReadFile("sink.json")
	if code, _, stderr := run(t, args...); code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("overwrite: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile("sink.json"); !bytes.Equal(before, after) {
		t.Fatal("refused overwrite changed the file")
	}
	if code, _, stderr := run(t, append(args, "--force", "-d", "30")...); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if c, _ := sink.LoadConfig("sink.json"); c.Drift != 30 {
		t.Fatal("--force did not replace")
	}
}

func TestNewKey(t *testing.T) {
	dir := setup(t)
	t.Chdir(dir)
	code, _, stderr := run(t, "--new-key", "vps1", "-s", "signer.pub", "-o", "sink.json", "--credit", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	priv, err := keys.LoadCurve25519Private("vps1.key")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := keys.LoadCurve25519Public("vps1.pub")
	if derived, _ := keys.Curve25519Public(priv); *derived != *pub {
		t.Fatal("vps1.pub is not vps1.key's public key")
	}
	c, err := sink.LoadConfig("sink.json")
	if err != nil || !bytes.Equal(c.Private, priv[:]) || c.Credit == nil || *c.Credit != 0 {
		t.Fatalf("configuration does not carry the new key: %v", err)
	}
	if code, _, _ := run(t, "--new-key", "vps1", "-s", "signer.pub"); code != 1 {
		t.Fatalf("existing key pair: exit %d", code)
	}
	if code, _, _ := run(t, "--new-key", "x", "-k", "sink.key", "-s", "signer.pub"); code != 2 {
		t.Fatalf("-k with --new-key: exit %d", code)
	}
}

func TestErrors(t *testing.T) {
	dir := setup(t)
	t.Chdir(dir)
	os.Chmod("sink.key", 0o644)
	if code, _, stderr := run(t, "-k", "sink.key", "-s", "signer.pub"); code != 2 || !strings.Contains(stderr, "chmod 600 sink.key") {
		t.Fatalf("0644 key: exit %d: %s", code, stderr)
	}
	os.Chmod("sink.key", 0o600)
	if code, _, stderr := run(t, "-k", "sink.key", "-s", "sink.key"); code != 2 || !strings.Contains(stderr, "looks like a private key") {
		t.Fatalf("signer not RSA: exit %d: %s", code, stderr)
	}
	os.WriteFile("other.bin", make([]byte, 32), 0o644)
	if code, _, stderr := run(t, "-k", "sink.key", "-s", "other.bin"); code != 2 || !strings.Contains(stderr, "RSA public key") {
		t.Fatalf("signer not RSA: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "-k", "sink.key", "-s", "missing.pub"); code != 2 || !strings.Contains(stderr, "missing.pub") {
		t.Fatalf("missing signer key: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "-k", "sink.key", "-s", "signer.pub", "--pool", "disk"); code != 2 || !strings.Contains(stderr, "Pool") {
		t.Fatalf("bad pool: exit %d: %s", code, stderr)
	}
	if code, out, _ := run(t, "--help"); code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit status") {
		t.Fatalf("help: %d", code)
	}
}

// The tools' defaults fit together: curve25519gen writes sink.key and
// sink.pub, entropy-config reads sink.key and listens on :4141, which is
// not the example's metrics port.
// An address the sink could not listen on is refused when the file is
// written (the sink would fail at every start and its unit restart it
// forever), and nothing is written, not even --new-key's key pair.
func TestBadAddress(t *testing.T) {
	dir := setup(t)
	t.Chdir(dir)
	for _, addr := range []string{"127.0.0.1", ":99999", ":0", "vps1.example.net", "::1:4141"} {
		for _, key := range [][]string{{"-k", "sink.key"}, {"--new-key", "new"}} {
			args := append([]string{"-a", addr, "-s", "signer.pub", "-o", "sink.json"}, key...)
			code, _, stderr := run(t, args...)
			if code != 2 || !strings.Contains(stderr, "-a: \""+addr+"\"") || !strings.Contains(stderr, "hint:") {
				t.Errorf("-a %s %v: exit %d: %s", addr, key, code, stderr)
			}
			if names := dirNames(t, dir); strings.Join(names, " ") != "signer.pub sink.key" {
				t.Fatalf("-a %s %v left %v", addr, key, names)
			}
		}
	}
	for _, addr := range []string{":4141", "127.0.0.1:1", "[::1]:65535", "vps1.example.net:4141"} {
		if code, _, stderr := run(t, "-a", addr, "-k", "sink.key", "-s", "signer.pub"); code != 0 {
			t.Errorf("-a %s: exit %d: %s", addr, code, stderr)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestDefaultsAgree(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "sink.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var example struct{ Metrics string }
	if err := json.Unmarshal(data, &example); err != nil {
		t.Fatal(err)
	}
	dir := setup(t)
	t.Chdir(dir)
	code, out, stderr := run(t)
	if code != 0 {
		t.Fatalf("entropy-config with defaults: exit %d: %s", code, stderr)
	}
	c, err := sink.ParseConfig([]byte(out))
	if err != nil || c.Address != ":4141" || !bytes.Equal(c.Private, vectors.Read(t, "sink.key")) {
		t.Fatalf("config %+v, %v", c, err)
	}
	_, port, _ := strings.Cut(example.Metrics, ":")
	if port == "" || strings.HasSuffix(c.Address, ":"+port) {
		t.Errorf("default address %s, example metrics %q", c.Address, example.Metrics)
	}
}

// A public key given where the sink's private key is wanted is named as
// such; "chmod 600" would write a configuration that rejects every packet.
func TestPublicKeyForPrivate(t *testing.T) {
	dir := setup(t)
	t.Chdir(dir)
	os.WriteFile("sink.pub", vectors.Read(t, "sink.pub"), 0o644)
	code, out, stderr := run(t, "-k", "sink.pub", "-s", "signer.pub")
	if code != 2 || out != "" || strings.Contains(stderr, "chmod") || !strings.Contains(stderr, "holds a public key; give the private key, sink.key") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// The signer's .pub where the private key goes: its PKIX content tells.
	os.WriteFile("other", vectors.Read(t, "signer.pub"), 0o644)
	if code, _, stderr := run(t, "-k", "other", "-s", "signer.pub"); code != 2 || strings.Contains(stderr, "chmod") || !strings.Contains(stderr, "holds a public key") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// The shells complete --pool with "kernel" or "file:".
func TestPoolCompletion(t *testing.T) {
	code, out, stderr := run(t, "__complete", "--pool", "")
	if code != 0 || out != "kernel\nfile:\n:6\n" {
		t.Fatalf("exit %d, %q\n%s", code, out, stderr)
	}
}
