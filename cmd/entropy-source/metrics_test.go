package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// parseMetrics parses a metrics file with Prometheus' own text parser.
func parseMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not the exposition format: %v\n%s", err, data)
	}
	for name, mf := range mfs {
		if mf.GetType() != dto.MetricType_GAUGE || mf.GetHelp() == "" {
			t.Errorf("%s: type %v, help %q", name, mf.GetType(), mf.GetHelp())
		}
	}
	return mfs
}

// value returns the gauge of family name whose "name" label is target
// ("" for a family without labels).
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name, target string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no %s", name)
	}
metrics:
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "name" && l.GetValue() != target {
				continue metrics
			}
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s{name=%q}", name, target)
	return 0
}

// TestMetricsFile: --metrics-file writes the run's outcome in the
// exposition format, atomically and mode 0644: per target last success,
// failures and counter; run duration and exit status; the harvest's
// credited bits, carried over by runs that do not harvest.
func TestMetricsFile(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	key := filepath.Join(dir, "signer.key")
	ok := sourcetest.Start(t, sourcetest.OK, pub)
	down := sourcetest.Start(t, sourcetest.Down, pub)
	targets := filepath.Join(dir, "targets.json")
	sourcetest.WriteTargets(t, targets, []map[string]any{
		sourcetest.Entry(ok, map[string]any{"Name": "ok"}),
		sourcetest.Entry(down, map[string]any{"Name": "down"}),
	})
	prom := filepath.Join(dir, "textfile", "entropy-source.prom")
	os.Mkdir(filepath.Dir(prom), 0o755)
	old := syscall.Umask(0o077) // the file is 0644 whatever the umask
	defer syscall.Umask(old)

	code, out, errs := run(t, testEnv(), "-k", key, "-t", targets, "--sources", "kernel", "--metrics-file", prom)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if fi, err := os.Stat(prom); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("metrics file: %v %v", fi, err)
	}
	mfs := parseMetrics(t, prom)
	if v := value(t, mfs, "entropyshare_source_target_last_success_timestamp_seconds", "ok"); v < 1e9 {
		t.Errorf("ok last success %v", v)
	}
	for _, c := range []struct {
		name, target string
		want         float64
	}{
		{"entropyshare_source_target_last_success_timestamp_seconds", "down", 0},
		{"entropyshare_source_target_failures", "ok", 0},
		{"entropyshare_source_target_failures", "down", 1},
		{"entropyshare_source_target_counter", "ok", 1},
		{"entropyshare_source_target_counter", "down", 1},
		{"entropyshare_source_run_exit_status", "", 1},
	} {
		if v := value(t, mfs, c.name, c.target); v != c.want {
			t.Errorf("%s{name=%q} = %v, want %v", c.name, c.target, v, c.want)
		}
	}
	bits := value(t, mfs, "entropyshare_source_harvest_credited_bits", "")
	at := value(t, mfs, "entropyshare_source_harvest_timestamp_seconds", "")
	if bits < 256 || at < 1e9 || value(t, mfs, "entropyshare_source_run_duration_seconds", "") <= 0 {
		t.Errorf("credited %v at %v", bits, at)
	}
	if left, _ := os.ReadDir(filepath.Dir(prom)); len(left) != 1 {
		t.Errorf("left in the textfile folder: %v", left)
	}

	// Nothing due: no harvest, the last one's numbers are kept.
	code, _, errs = run(t, testEnv(), "-k", key, "-t", targets, "--metrics-file", prom)
	if code != 0 {
		t.Fatalf("second run: exit %d %s", code, errs)
	}
	mfs = parseMetrics(t, prom)
	if value(t, mfs, "entropyshare_source_harvest_credited_bits", "") != bits || value(t, mfs, "entropyshare_source_harvest_timestamp_seconds", "") != at ||
		value(t, mfs, "entropyshare_source_run_exit_status", "") != 0 {
		t.Errorf("second run's file:\n%v", mfs)
	}

	before, _ := os.ReadFile(targets)
	code, _, errs = run(t, testEnv(), "-k", key, "-t", targets, "--metrics-file", filepath.Join(dir, "none", "x.prom"))
	if code != 2 || !strings.Contains(errs, "--metrics-file") {
		t.Errorf("missing folder: exit %d %s", code, errs)
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(after, before) {
		t.Error("a run refused for its metrics file changed the targets file")
	}
	dry := filepath.Join(dir, "dry.prom")
	if code, _, _ := run(t, testEnv(), "--dry-run", "-k", key, "-t", targets, "--metrics-file", dry); code != 0 {
		t.Errorf("dry run: exit %d", code)
	}
	if _, err := os.Stat(dry); !os.IsNotExist(err) {
		t.Error("a dry run wrote the metrics file")
	}
}
