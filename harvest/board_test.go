package harvest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func chmod(path string, mode os.FileMode) error { return os.Chmod(path, mode) }

// writeTree makes files under root from a map of relative path -> content.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestADCFakeSysfs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"sys/bus/iio/devices/iio:device0/in_voltage0_raw": "4095\n",
		"sys/bus/iio/devices/iio:device0/in_voltage1_raw": "1234\n",
		"sys/bus/iio/devices/iio:device0/name":            "TI-am335x-adc\n",
	})
	s := adcSource{root: root, samples: 256}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	per := max(256/2, 2*rctCutoff(adcBitsPerSample, defaultAlphaLog2))
	if len(r.Data) != 2*per || r.Data[0] != 0xff || r.Data[per] != 1234&0xff || r.BitsPerSample != adcBitsPerSample {
		t.Fatalf("got %d samples, first %d, %g bits", len(r.Data), r.Data[0], r.BitsPerSample)
	}
	// A stuck ADC (a fake file does not change) fails its health tests.
	if err := checkHealth(r.Data, r.BitsPerSample, defaultAlphaLog2); !errors.Is(err, errRepetitionCount) {
		t.Fatalf("stuck ADC: %v", err)
	}
	// Garbage in an attribute is an error, not a panic.
	writeTree(t, root, map[string]string{"sys/bus/iio/devices/iio:device0/in_voltage0_raw": "x\n"})
	if _, err := s.Read(context.Background()); err == nil || errors.Is(err, errUnavailable) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestThermalFakeSysfs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"sys/class/thermal/thermal_zone0/temp": "45123\n",
		"sys/class/thermal/thermal_zone1/temp": "38000\n",
	})
	r, err := thermalSource{root: root, reads: 2}.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != "45123\n45123\n38000\n38000\n" || r.BitsPerSample != 0 {
		t.Fatalf("got %q at %g bits", r.Data, r.BitsPerSample)
	}
}

func TestBoardAbsent(t *testing.T) {
	empty := t.TempDir()
	for _, s := range []entropySource{adcSource{root: empty, samples: 8}, thermalSource{root: empty}} {
		if _, err := s.Read(context.Background()); !errors.Is(err, errUnavailable) {
			t.Errorf("%s on an empty tree: %v", s.Name(), err)
		}
	}
	// On this machine: present or not, never an error that stops a run.
	cfg := Config{Sources: []string{"kernel", "adc", "thermal"}}
	_, rep, err := Harvest(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.sources {
		t.Logf("%s: available %v %s", s.Name, s.Available, s.Reason)
		if s.Name == "adc" && !s.Available && s.Reason == "" {
			t.Error("adc unavailable without a reason")
		}
	}
	t.Logf("board: %q", boardName()) // periph.io's host.Init must not fail or panic here
}

func TestHWRNGUnavailable(t *testing.T) {
	s := hwrngSource{path: filepath.Join(t.TempDir(), "hwrng"), n: 16}
	if _, err := s.Read(context.Background()); !errors.Is(err, errUnavailable) {
		t.Fatalf("missing device: %v", err)
	}
	p := filepath.Join(t.TempDir(), "dev")
	os.WriteFile(p, []byte("0123456789abcdef"), 0)
	s.path = p
	_, err := s.Read(context.Background())
	if os.Geteuid() != 0 && !errors.Is(err, errUnavailable) {
		t.Fatalf("unreadable device: %v", err)
	}
}
