package sink

import (
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics carries the build (version, Go's version), the process's and
// Go's metrics, and per signer the clock offset of accepted packets (a
// histogram) beside the last accepted time; a signer added by a reload has
// its series, one removed loses them.
func TestRuntimeAndOffsetMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, addr := start(t, cfg, Options{Version: "1.2.3"})
	k := vectorKeys(t)
	for c, ts := range []time.Time{epoch.Add(-30 * time.Second), epoch.Add(3 * time.Second), epoch} {
		if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, int64(c+1), ts)); st != packet.StatusAccepted {
			t.Fatal(st)
		}
	}
	waitFor(t, func() bool { return s.open.Load() == 0 })
	families := scrape(t, s)
	if l := labelsOf(families["entropyshare_sink_build_info"]); len(l) != 1 || l[0]["version"] != "1.2.3" || l[0]["goversion"] != runtime.Version() {
		t.Errorf("build_info %v", l)
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_open_fds", "go_goroutines", "go_memstats_alloc_bytes"} {
		if families[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	h := families["entropyshare_sink_clock_offset_seconds"]
	if h == nil || len(h.Metric) != 1 {
		t.Fatalf("offset histogram: %v", h)
	}
	hist := h.Metric[0].GetHistogram()
	if h.Metric[0].Label[0].GetValue() != "default" || hist.GetSampleCount() != 3 || hist.GetSampleSum() != -27 {
		t.Fatalf("offsets: %d samples, sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	want := map[float64]uint64{-60: 0, -30: 1, -10: 1, 0: 2, 2: 2, 5: 3}
	for _, b := range hist.Bucket {
		if n, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != n {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), n)
		}
	}

	// A signer added: its series at zero; the one removed: none.
	if err := s.Reload(testConfig(t, dir, func(c *Config) {
		c.Signer = nil
		c.Signers = []SignerConfig{{Name: "b", Signer: pkix(t, extraSigner(t, 0))}}
	})); err != nil {
		t.Fatal(err)
	}
	families = scrape(t, s)
	for _, name := range []string{"entropyshare_sink_clock_offset_seconds", "entropyshare_sink_counter"} {
		if l := labelsOf(families[name]); len(l) != 1 || l[0]["signer"] != "b" {
			t.Errorf("%s after the reload: %v", name, l)
		}
	}
}

func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return families
}

func labelsOf(f *dto.MetricFamily) []map[string]string {
	if f == nil {
		return nil
	}
	var out []map[string]string
	for _, m := range f.Metric {
		l := map[string]string{}
		for _, p := range m.Label {
			l[p.GetName()] = p.GetValue()
		}
		out = append(out, l)
	}
	return out
}
