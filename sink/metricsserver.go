package sink

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// The metrics listener serves /metrics and /healthz to a scraper or two.
// Where it is reachable from outside, it is bounded as the other
// listeners are: MetricsMaxConns connections in all and
// metricsConnsPerAddress from one address (closed at once past either),
// a small header, and a deadline on every phase of a request. Its
// connections are counted in Summary.Descriptors, so that they can never
// take the descriptors the frame listener's slots need.
const (
	// MetricsMaxConns bounds the metrics listener's connections.
	MetricsMaxConns = 16
	// metricsConnsPerAddress: a scraper keeps one connection alive; a
	// person with curl beside it needs another.
	metricsConnsPerAddress = 4
)

// metricsLimits are the metrics listener's deadlines and sizes.
type metricsLimits struct {
	header, read, write, idle time.Duration
	maxHeaderBytes            int
}

var defaultMetricsLimits = metricsLimits{
	header: 5 * time.Second,
	read:   10 * time.Second,
	write:  30 * time.Second,
	// A scraper (Prometheus: every minute by default) reuses its
	// connection between scrapes.
	idle:           90 * time.Second,
	maxHeaderBytes: 4 << 10,
}

// MetricsServer serves a sink's Handler on a listener of its own.
type MetricsServer struct {
	s   *Server
	srv *http.Server
}

// NewMetricsServer returns the server of s's /metrics and /healthz, ready
// to Serve.
func (s *Server) NewMetricsServer() *MetricsServer {
	return s.newMetricsServer(defaultMetricsLimits)
}

func (s *Server) newMetricsServer(lim metricsLimits) *MetricsServer {
	return &MetricsServer{s: s, srv: &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: lim.header,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeaderBytes,
		// A scanner's malformed requests are not news.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}}
}

// Serve serves on l, a plain TCP listener, until Shutdown; it then
// returns ErrServerClosed.
func (m *MetricsServer) Serve(l net.Listener) error {
	capped := newConnLimiter(l, MetricsMaxConns, metricsConnsPerAddress, m.s.m.metricsRefused, m.s.m.metricsOpen)
	return serveHTTP(m.srv, capped)
}

// Shutdown stops accepting and waits, until ctx ends, for requests in
// flight; then it closes every connection.
func (m *MetricsServer) Shutdown(ctx context.Context) error {
	return shutdownHTTP(ctx, m.srv)
}

// serveHTTP serves srv on l until Shutdown, after which it returns
// ErrServerClosed rather than http.ErrServerClosed: the HTTPS and metrics
// listeners end as the frame listener does.
func serveHTTP(srv *http.Server, l net.Listener) error {
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// shutdownHTTP stops srv accepting and waits for requests in flight until
// ctx is done, then closes the connections left and returns ctx's error.
func shutdownHTTP(ctx context.Context, srv *http.Server) error {
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	return err
}
