package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck: check prints the signer key's and each sink key's
// fingerprint (known answers: sha256sum of the vectors' signer.pub and
// sink.pub), warns about a misspelled field, exits 0; and reports every
// problem with exit 2, changing nothing.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	seed := filepath.Join(dir, "seed")
	if err := os.WriteFile(seed, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	targets := filepath.Join(dir, "targets.json")
	good := `[{"Address": "a.example:4141", "Public": "` + statusPub + `", "Name": "vps1", "Protocl": 1},
	{"Address": "b.example:4141", "Public": "` + statusPub + `", "Protocol": 1}]`
	if err := os.WriteFile(targets, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, testEnv(), "check", "-k", key, "-t", targets, "-s", seed, "--sources", "kernel,jitter")
	t.Logf("check:\n%s%s", out, errs)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"RSA-2048, SHA256:30308efe0e623334d28b39762281d76dd649a0cffadd1a2dc1e01c98d3c752b6",
		"2 targets",
		"vps1", "a.example:4141", "protocol 2, sink key SHA256:43bd17ffa3ef651ff42516c3c7d33f9dcd748c83ef6d05ab1a9f73d9e7374032",
		"b.example:4141", "protocol 1, sink key SHA256:43bd17ff",
		"kernel, jitter",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(errs, `unknown field "Protocl" is kept but not used; did you mean "Protocol"?`) {
		t.Errorf("no misspelling warning: %q", errs)
	}
	if _, err := os.Lstat(targets + ".lock"); !os.IsNotExist(err) {
		t.Errorf("check made a lock file")
	}

	open := filepath.Join(dir, "open.key")
	data, _ := os.ReadFile(key)
	os.WriteFile(open, data, 0o644)
	os.Chmod(open, 0o644)
	short := filepath.Join(dir, "short.seed")
	os.WriteFile(short, []byte("x"), 0o600)
	broken := filepath.Join(dir, "broken.json")
	os.WriteFile(broken, []byte(`[{"Address": "a.example:4141"}]`), 0o644)
	code, out, errs = run(t, testEnv(), "check", "-k", open, "-t", broken, "-s", short, "--plugin", filepath.Join(dir, "none.wasm"))
	if code != 2 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"chmod 600", "want 32 bytes", "none.wasm: no such file", "field Public: missing"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.Count(out, "PROBLEM") != 4 {
		t.Errorf("want 4 problems in the table:\n%s", out)
	}
	if got, _ := os.ReadFile(short); string(got) != "x" {
		t.Error("check changed the seed file")
	}
}
