package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/internal/tpm/tpmtest"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// tpmKey makes an RSA-2048 key in sim's TPM at h and writes its reference
// as dir/name; it returns the path and the public key.
func tpmKey(t *testing.T, sim *tpmtest.Simulator, dir, name string, h uint32) (string, *rsa.PublicKey) {
	t.Helper()
	tp, err := tpm.Open(sim.Device)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	pub, err := tp.CreateKey(context.Background(), h, 2048, true)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tpm.NewReference(sim.Device, h, pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, ref.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, pub
}

// TestTPMSignerDelivers: a run signed in the TPM delivers to a protocol 2
// sink and to an original (protocol 1, legacy) sink; the sinks open and
// verify every frame with packet.Recipient.
func TestTPMSignerDelivers(t *testing.T) {
	sim := tpmtest.Start(t)
	dir := t.TempDir()
	ref, pub := tpmKey(t, sim, dir, "signer.tpm", tpm.DefaultHandle)
	sinks := []*sourcetest.Sink{sourcetest.Start(t, sourcetest.OK, pub), sourcetest.Start(t, sourcetest.Original, pub)}
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(sinks[0], nil), sourcetest.Entry(sinks[1], nil)})
	code, out, errs := run(t, testEnv(), "-k", ref, "-t", targets, "-s", filepath.Join(dir, "seed"), "--verbose")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for i, s := range sinks {
		s.Close()
		if got := s.Accepted(); !slices.Equal(got, []int64{1}) || len(s.Errors()) != 0 {
			t.Errorf("sink %d (%s): accepted %v, errors %v\n%s", i, s.Mode, got, s.Errors(), out)
		}
	}
	for _, want := range []string{"delivered, counter 1, protocol 2", "delivered, no reply (original sink), counter 1, protocol 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestTPMSignerFailures: an absent TPM, an empty handle and a replaced key
// fail the run with exit 2 and a clear message; nothing is sent and the
// targets file (its counters) does not change.
func TestTPMSignerFailures(t *testing.T) {
	sim := tpmtest.Start(t)
	dir := t.TempDir()
	good, pub := tpmKey(t, sim, dir, "signer.tpm", tpm.DefaultHandle)
	sink := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	before := sourcetest.WriteTargets(t, targets, []map[string]any{sourcetest.Entry(sink, nil)})

	edit := func(name, old, new string) string {
		data, _ := os.ReadFile(good)
		p := filepath.Join(dir, name)
		os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644)
		return p
	}
	wrongHandle := edit("wrong-handle.tpm", "0x81000100", "0x81000155")
	missing := edit("missing.tpm", sim.Device, filepath.Join(dir, "tpmrm0"))
	// replaced: a reference to the key at 0x81000101, which is then
	// replaced by another key at the same handle.
	replaced, _ := tpmKey(t, sim, dir, "replaced.tpm", tpm.DefaultHandle+1)
	tpmKey(t, sim, dir, "other.tpm", tpm.DefaultHandle+1)
	for _, c := range []struct {
		name, key string
		args      []string
		want      string
	}{
		{"wrong handle", wrongHandle, nil, "handle 0x81000155: no key at this handle"},
		{"missing device", missing, nil, "no TPM: no such device"},
		{"device flag overrides the reference", good, []string{"--tpm-device", "tcp://127.0.0.1:1"}, "tcp://127.0.0.1:1: no TPM: nothing listens"},
		{"replaced key", replaced, nil, "not the one the reference file names"},
		{"missing reference", filepath.Join(dir, "none.tpm"), nil, "no such file"},
		{"not a reference", edit("junk.tpm", "{", "["), nil, "not a TPM key reference"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-k", c.key, "-t", targets}, c.args...)
			code, out, errs := run(t, testEnv(), args...)
			if code != 2 || !strings.HasPrefix(errs, "entropy-source: tpm: ") || !strings.Contains(errs, c.want) || !strings.Contains(errs, "hint:") && c.name != "not a reference" {
				t.Fatalf("exit %d\n%s\n%s", code, out, errs)
			}
			if after, _ := os.ReadFile(targets); !bytes.Equal(after, before) {
				t.Fatalf("the targets file changed:\n%s", after)
			}
		})
	}
	sink.Close()
	if got := sink.Received(); len(got) != 0 {
		t.Fatalf("the sink received %v", got)
	}
}

// TestTPMSources: `entropy-source sources` lists the tpm source, healthy,
// and a run with -k signer.tpm reads the TPM the reference names.
func TestTPMSources(t *testing.T) {
	sim := tpmtest.Start(t)
	code, out, errs := run(t, testEnv(), "sources", "--tpm-device", sim.Device)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "tpm ") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 6 || f[1] != "ok" || f[2] != "64" || f[3] != "pass" || f[5] != "256" || !strings.Contains(row, sim.Device) {
		t.Fatalf("tpm row %q in\n%s", row, out)
	}

	dir := t.TempDir()
	ref, _ := tpmKey(t, sim, dir, "signer.tpm", tpm.DefaultHandle)
	cmd := newCommand(testEnv())
	if err := cmd.ParseFlags([]string{"-k", ref}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSigner(cmd, ref); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup(tpmDeviceFlag).Value.String(); got != sim.Device {
		t.Fatalf("--tpm-device after -k signer.tpm: %q, want the reference's %q", got, sim.Device)
	}
}
