package harvest

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/entropyshare/entropyshare/internal/tpm/tpmtest"
)

// TestTPMSource reads swtpm's generator: the source passes its start-up
// test (1024 samples: its 64-byte reading and 960 more) and is credited
// by default, as hwrng is.
func TestTPMSource(t *testing.T) {
	sim := tpmtest.Start(t)
	rep, err := gatherWith(Config{Sources: []string{"tpm"}, TPMDevice: sim.Device, MinBits: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.sources[0]
	if s.Name != "tpm" || !s.Available || s.Health != healthPass || s.Startup || s.Err != nil {
		t.Fatalf("tpm source: %+v", s)
	}
	if s.Bytes != tpmBytes || s.TestedSamples < startupSamples || s.BitsPerByte != tpmBitsPerByte ||
		s.CreditedBits != tpmBitsPerByte*tpmBytes || s.Note != sim.Device {
		t.Fatalf("tpm source: %d bytes, %d tested, %g bits/byte, %g credited, note %q",
			s.Bytes, s.TestedSamples, s.BitsPerByte, s.CreditedBits, s.Note)
	}
	// An operator may lower the credit, never raise it.
	rep, err = gatherWith(Config{Sources: []string{"tpm"}, TPMDevice: sim.Device, MinBits: 1,
		Credit: map[string]float64{"tpm": 1}})
	if err != nil || rep.sources[0].CreditedBits != tpmBytes {
		t.Fatalf("--credit tpm=1: %+v %v", rep.sources[0], err)
	}

	a, err := tpmSource{device: sim.Device, n: 100}.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := tpmSource{device: sim.Device, n: 100}.Read(context.Background())
	if err != nil || len(a.Data) != 100 || bytes.Equal(a.Data, b.Data) {
		t.Fatalf("two readings: %x %x %v", a.Data, b.Data, err)
	}
}

// TestTPMUnavailable: no TPM is no error, and the run goes on without it.
func TestTPMUnavailable(t *testing.T) {
	for _, dev := range []string{filepath.Join(t.TempDir(), "tpmrm0"), "tcp://127.0.0.1:1"} {
		_, err := tpmSource{device: dev, n: 16}.Read(context.Background())
		var ue *unavailableError
		if !errors.As(err, &ue) || ue.Reason != "no TPM at "+dev {
			t.Fatalf("%s: %v", dev, err)
		}
	}
	rep, err := gatherWith(Config{Sources: []string{"kernel", "tpm"}, TPMDevice: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.sources[1]; s.Name != "tpm" || s.Available || s.Reason == "" || s.Err != nil {
		t.Fatalf("tpm: %+v", s)
	}
}

// gatherWith gathers once from the sources cfg names, as a run does.
func gatherWith(cfg Config) (*Report, error) {
	h := harvester{cfg: cfg}
	rep, recs, err := h.gather(context.Background())
	for _, r := range recs {
		clear(r.data)
	}
	return rep, err
}
