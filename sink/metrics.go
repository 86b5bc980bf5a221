package sink

import (
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live in a registry of their own, so that a sink embedded in
// another program neither sees nor disturbs its metrics.
type metrics struct {
	reg           *prometheus.Registry
	accepted      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	fedBytes      prometheus.Counter
	creditedBits  prometheus.Counter
	open          prometheus.Gauge
	counter       *prometheus.GaugeVec
	lastAccepted  *prometheus.GaugeVec
	commitBatch   prometheus.Histogram
	commitSeconds prometheus.Histogram
	storeErrors   prometheus.Counter
	seedWrites    prometheus.Counter
	seedErrors    prometheus.Counter
	// offset is the clock offset of accepted packets (timestamp - now),
	// by signer: how close each source's clock runs to Drift.
	offset *prometheus.HistogramVec
	// The metrics listener's own connections (MetricsServer).
	metricsRefused *prometheus.CounterVec
	metricsOpen    prometheus.Gauge
}

// newMetrics registers the metrics of signers names, with their stored
// counters and the Unix times those were stored (0: unknown).
func newMetrics(names []string, counters, stored []int64) *metrics {
	const ns = "entropyshare_sink"
	m := &metrics{
		reg: prometheus.NewRegistry(),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "packets_accepted_total", Help: "Packets accepted and fed, by signer.",
		}, []string{"signer"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "packets_rejected_total",
			Help: "Connections rejected, by reason and signer (empty before the signer is known).",
		}, []string{"reason", "signer"}),
		fedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "fed_bytes_total", Help: "Bytes fed to the pool.",
		}),
		creditedBits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "credited_bits_total", Help: "Bits of entropy credited to the kernel pool.",
		}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "open_connections", Help: "Connections being served.",
		}),
		counter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "counter", Help: "Stored (durable) counter, by signer.",
		}, []string{"signer"}),
		lastAccepted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "last_accepted_timestamp_seconds", Help: "Unix time of the last accepted packet, by signer.",
		}, []string{"signer"}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "commit_batch_packets", Help: "Packets whose counters one state write made durable.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "commit_seconds", Help: "Time to write the state file durably.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "store_errors_total", Help: "State file writes that failed.",
		}),
		seedWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "boot_seed_writes_total", Help: "Boot seed writes that mixed in accepted chunks.",
		}),
		seedErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "boot_seed_errors_total", Help: "Boot seed writes that failed (their packets were accepted all the same).",
		}),
		metricsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "metrics", Name: "connections_refused_total",
			Help: "Connections to the metrics listener closed unserved, by the bound they were over (total, per-address).",
		}, []string{"reason"}),
		metricsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: "metrics", Name: "open_connections", Help: "Connections to the metrics listener open.",
		}),
	}
	m.reg.MustRegister(m.accepted, m.rejected, m.metricsRefused, m.metricsOpen, m.fedBytes, m.creditedBits, m.open, m.counter,
		m.lastAccepted, m.commitBatch, m.commitSeconds, m.storeErrors, m.seedWrites, m.seedErrors)
	m.offset = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "clock_offset_seconds",
		Help:    "Timestamp of each accepted packet minus the sink's clock, by signer (timestamps are whole seconds: up to 1 s below the true offset).",
		Buckets: offsetBuckets,
	}, []string{"signer"})
	m.reg.MustRegister(m.offset)
	for _, n := range names {
		m.offset.WithLabelValues(n)
	}
	for i, n := range names {
		m.accepted.WithLabelValues(n)
		m.counter.WithLabelValues(n).Set(float64(counters[i]))
		if stored[i] != 0 {
			m.lastAccepted.WithLabelValues(n).Set(float64(stored[i]))
		}
	}
	return m
}

// Handler serves /metrics (Prometheus text format) and /healthz: 200 while
// the sink accepts connections and its last state write succeeded, 503
// otherwise. The kernel's entropy_avail is not a health signal (it reads
// 256 on every kernel since 5.18) and is not reported.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case s.shutting.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("shutting down\n"))
		case !s.storeOK.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("state file not writable\n"))
		default:
			w.Write([]byte("ok\n"))
		}
	})
	return mux
}

// signersChanged follows a reload from the signers at the state entries
// names were, to those now (entry j's name; "" for a signer not
// configured): each configured signer's series exist, with its counter
// and last accepted time; those of a signer no longer configured (or
// renamed) are removed.
func (m *metrics) signersChanged(was, now []string, counters []int64, es []entry) {
	for _, n := range was {
		if n != "" && !slices.Contains(now, n) {
			m.counter.DeleteLabelValues(n)
			m.lastAccepted.DeleteLabelValues(n)
			m.offset.DeleteLabelValues(n)
		}
	}
	for j, n := range now {
		if n == "" {
			continue
		}
		m.accepted.WithLabelValues(n)
		m.offset.WithLabelValues(n)
		m.counter.WithLabelValues(n).Set(float64(counters[j]))
		if es[j].stored != 0 {
			m.lastAccepted.WithLabelValues(n).Set(float64(es[j].stored))
		}
	}
}

// offsetBuckets span what Drift allows (120 s by default), finer near 0,
// symmetric: a clock ahead and one behind are told apart.
var offsetBuckets = []float64{-600, -300, -120, -60, -30, -10, -5, -2, -1, 0, 1, 2, 5, 10, 30, 60, 120, 300, 600}

// addRuntime registers what a Prometheus user expects of any server: the
// build (version, Go's version), and the process's and Go runtime's
// metrics (CPU, memory, file descriptors, goroutines, GC).
func (m *metrics) addRuntime(version string) {
	if version == "" {
		version = "unknown"
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "entropyshare_sink", Name: "build_info",
		Help: "Always 1; the labels say which entropy-sink runs.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(info, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
}

// observeOffset records the clock offset of a packet accepted from
// signer: its timestamp minus now.
func (m *metrics) observeOffset(signer string, timestamp int64, now time.Time) {
	m.offset.WithLabelValues(signer).Observe(float64(timestamp) - float64(now.UnixNano())/1e9)
}
