package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Names of the harvest's metrics, carried from one file to the next by
// the runs that do not harvest.
const (
	metricCredited    = "entropyshare_source_harvest_credited_bits"
	metricHarvestTime = "entropyshare_source_harvest_timestamp_seconds"
)

// metricsFile writes --metrics-file, the outcome of each run for
// node_exporter's textfile collector.
type metricsFile struct {
	path, targets string
	// harvest is the report of the run's harvest, if it harvested, and
	// harvestedAt when it ended.
	harvest     *harvest.Report
	harvestedAt time.Time
}

// checkMetricsPath refuses a --metrics-file whose folder does not exist,
// before the run rather than after it.
func checkMetricsPath(path string) error {
	fi, err := os.Stat(filepath.Dir(path))
	if err == nil && !fi.IsDir() {
		err = errors.New("not a folder")
	}
	if err != nil {
		return cli.Usagef("--metrics-file %s: its folder: %v", path, err)
	}
	return nil
}

// harvested is the harvester's report callback.
func (m *metricsFile) harvested(rep *harvest.Report) {
	m.harvest, m.harvestedAt = rep, time.Now()
}

// write replaces the metrics file, atomically and mode 0644, with the
// outcome of a run that ended at end after took, with exit status code:
// the run's own numbers, the harvest's (this run's, or the last file's
// when it did not harvest), and every target's from the targets file as
// the run left it (none if it cannot be read).
func (m *metricsFile) write(took time.Duration, code int, end time.Time) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	gauge("entropyshare_source_run_timestamp_seconds", "Unix time the last run ended.", float64(end.Unix()))
	gauge("entropyshare_source_run_duration_seconds", "How long the last run took.", took.Seconds())
	gauge("entropyshare_source_run_exit_status", "Exit status of the last run: 0 all delivered, 1 some failed, 2 configuration, 3 not enough entropy (entropy-source --help).", float64(code))

	bits, at, ok := 0.0, time.Time{}, false
	if m.harvest != nil {
		bits, at, ok = m.harvest.CreditedBits(), m.harvestedAt, true
	} else {
		bits, at, ok = m.previousHarvest()
	}
	if ok {
		gauge(metricCredited, "Entropy credited by the last harvest, in bits (a run harvests only when a target is due).", bits)
		gauge(metricHarvestTime, "Unix time of the last harvest.", float64(at.Unix()))
	}
	m.harvest = nil

	if ts, err := source.LoadTargets(m.targets); err == nil {
		labels := []string{"name", "address", "sink_key"}
		vec := func(name, help string) *prometheus.GaugeVec {
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
			reg.MustRegister(v)
			return v
		}
		last := vec("entropyshare_source_target_last_success_timestamp_seconds", "Unix time of the last delivery to the target (0: never).")
		failures := vec("entropyshare_source_target_failures", "Consecutive failed deliveries to the target.")
		counter := vec("entropyshare_source_target_counter", "Last counter used (or reserved) for the target.")
		next := vec("entropyshare_source_target_next_due_timestamp_seconds", "Unix time the target is next due.")
		for _, t := range ts.Entries {
			l := prometheus.Labels{"name": t.Name, "address": t.Address,
				"sink_key": keys.Curve25519Fingerprint((*[keys.Curve25519Size]byte)(&t.Public))}
			last.With(l).Set(float64(t.LastSuccess))
			failures.With(l).Set(float64(t.Failures))
			counter.With(l).Set(float64(t.Counter))
			next.With(l).Set(float64(t.Next))
		}
	}

	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return err
		}
	}
	// Atomic, not durable: losing the newest file to a crash costs one
	// run's numbers. The temporary file's name does not end in .prom, so
	// the collector never reads it.
	if err := atomicfile.Replace(m.path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing --metrics-file: %w", err)
	}
	return nil
}

// previousHarvest reads the harvest's numbers from the metrics file the
// last run wrote, if it has them.
func (m *metricsFile) previousHarvest() (bits float64, at time.Time, ok bool) {
	data, err := os.ReadFile(m.path)
	if err != nil {
		return 0, time.Time{}, false
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(data)))
	if err != nil {
		return 0, time.Time{}, false
	}
	value := func(name string) (float64, bool) {
		mf := mfs[name]
		if mf == nil || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge() == nil {
			return 0, false
		}
		return mf.GetMetric()[0].GetGauge().GetValue(), true
	}
	bits, ok1 := value(metricCredited)
	secs, ok2 := value(metricHarvestTime)
	if !ok1 || !ok2 {
		return 0, time.Time{}, false
	}
	return bits, time.Unix(int64(secs), 0), true
}

// exitCode is the exit status cli.Execute gives err.
func exitCode(err error) int {
	var ee *cli.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	}
	return cli.ExitFail
}
