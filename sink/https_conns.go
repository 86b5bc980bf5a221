package sink

import (
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter bounds the connections a listener hands out: max in all and
// perAddr from one IPv4 address or one IPv6 /64 (a host usually has a
// whole /64 to pick source addresses from). A connection over either bound
// is closed at once, before TLS costs anything; it counts until closed,
// handshake and idle keep-alive included.
type connLimiter struct {
	net.Listener
	max, perAddr int
	refused      *prometheus.CounterVec // by reason: "total", "per-address"
	gauge        prometheus.Gauge       // connections open

	mu     sync.Mutex
	open   int
	byAddr map[netip.Prefix]int
}

func newConnLimiter(l net.Listener, max, perAddr int, refused *prometheus.CounterVec, open prometheus.Gauge) *connLimiter {
	return &connLimiter{Listener: l, max: max, perAddr: perAddr, refused: refused, gauge: open, byAddr: map[netip.Prefix]int{}}
}

// Accept returns the next connection within the bounds.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		if reason := l.admit(key); reason != "" {
			c.Close()
			l.refused.WithLabelValues(reason).Inc()
			continue
		}
		l.gauge.Inc()
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

// admit counts a connection from key in, or says which bound it is over.
func (l *connLimiter) admit(key netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.max:
		return "total"
	case l.byAddr[key] >= l.perAddr:
		return "per-address"
	}
	l.open++
	l.byAddr[key]++
	return ""
}

func (l *connLimiter) release(key netip.Prefix) {
	l.mu.Lock()
	l.open--
	if l.byAddr[key]--; l.byAddr[key] == 0 {
		delete(l.byAddr, key)
	}
	l.mu.Unlock()
	l.gauge.Dec()
}

// addrKey is the address a connection counts against: its IPv4 address,
// or its IPv6 address's /64. Other addresses share one key.
func addrKey(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	p, _ := ip.Prefix(bits)
	return p
}

// limitedConn gives its place back on its first Close.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// httpsMetrics are the HTTPS listener's, by client where there is one.
type httpsMetrics struct {
	requests *prometheus.CounterVec
	served   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	open     prometheus.Gauge
}

func newHTTPSMetrics(reg prometheus.Registerer, clients map[string]ClientRights) (*httpsMetrics, error) {
	const ns, sub = "entropyshare_sink", "https"
	m := &httpsMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "HTTPS requests by client (empty: not a listed client), endpoint and HTTP status code.",
		}, []string{"client", "endpoint", "code"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "random_bytes_total",
			Help: "Random bytes served (bytes, integers, booleans, UUIDs), by client.",
		}, []string{"client"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "connections_refused_total",
			Help: "HTTPS connections closed unserved, by the bound they were over (total, per-address).",
		}, []string{"reason"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "open_connections", Help: "HTTPS connections open.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.served, m.refused, m.open} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for n, r := range clients {
		if r.Random {
			m.served.WithLabelValues(n)
		}
	}
	return m, nil
}
