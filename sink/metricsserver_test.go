package sink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// startMetrics serves s's metrics listener with lim on a loopback port.
func startMetrics(t *testing.T, s *Server, lim metricsLimits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := s.newMetricsServer(lim)
	served := make(chan error, 1)
	go func() { served <- m.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		m.Shutdown(ctx)
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return l.Addr().String()
}

// closedWithin reports whether the peer closes c (or resets it) within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// halfRequest opens a connection from from and sends a request's first
// header line and nothing more.
func halfRequest(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	return c
}

// The metrics listener holds MetricsMaxConns connections in all and
// metricsConnsPerAddress from one address; past either, a connection is
// closed at once and counted. Half-sent requests that hold every slot
// keep neither the frame listener from serving nor, once their header
// deadline passes, a scraper from the metrics.
func TestMetricsListenerBounds(t *testing.T) {
	dir := t.TempDir()
	s, addr := start(t, testConfig(t, dir, nil), Options{})
	lim := defaultMetricsLimits
	lim.header = 2 * time.Second
	maddr := startMetrics(t, s, lim)

	// One address: its first metricsConnsPerAddress are held, the next
	// is closed at once.
	var held []net.Conn
	for range metricsConnsPerAddress {
		held = append(held, halfRequest(t, "127.0.0.2", maddr))
	}
	if c := halfRequest(t, "127.0.0.2", maddr); !closedWithin(c, time.Second) {
		t.Errorf("connection %d from one address was not closed at once", metricsConnsPerAddress+1)
	}
	// Every address: MetricsMaxConns in all.
	for i := 0; len(held) < MetricsMaxConns; i++ {
		held = append(held, halfRequest(t, fmt.Sprintf("127.0.1.%d", 1+i/metricsConnsPerAddress), maddr))
	}
	if c := halfRequest(t, "127.0.2.1", maddr); !closedWithin(c, time.Second) {
		t.Errorf("connection %d was not closed at once", MetricsMaxConns+1)
	}
	for i, c := range held[:3] {
		if closedWithin(c, 50*time.Millisecond) {
			t.Errorf("held connection %d was closed", i)
		}
	}
	// The frame listener serves all the while.
	k := vectorKeys(t)
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusAccepted {
		t.Fatalf("a frame while the metrics listener is full: %s", st)
	}
	// The header deadline frees the slots.
	for i, c := range held {
		if !closedWithin(c, lim.header+2*time.Second) {
			t.Fatalf("half-sent request %d outlived the header deadline", i)
		}
	}
	refused := map[string]float64{}
	if f := scrape(t, s)["entropyshare_sink_metrics_connections_refused_total"]; f != nil {
		for _, m := range f.Metric {
			refused[m.Label[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if refused["per-address"] != 1 || refused["total"] != 1 {
		t.Errorf("refused connections %v, want one per-address and one total", refused)
	}
	resp, err := http.Get("http://" + maddr + "/healthz")
	if err != nil {
		t.Fatalf("a scrape after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz after the flood: %s", resp.Status)
	}
}

// A request's header is bounded in size and time; a kept-alive
// connection is closed when idle; a slow reader of the answer is cut.
func TestMetricsListenerDeadlines(t *testing.T) {
	dir := t.TempDir()
	s, _ := start(t, testConfig(t, dir, nil), Options{})
	lim := defaultMetricsLimits
	lim.idle = time.Second
	maddr := startMetrics(t, s, lim)

	c, err := net.Dial("tcp", maddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Fill: " + strings.Repeat("a", 2*lim.maxHeaderBytes+4096) + "\r\n\r\n"
	c.Write([]byte(big))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte header: %s, want 431", len(big), resp.Status)
	}

	// Kept alive after a whole request, then idle: closed after lim.idle.
	c2, err := net.Dial("tcp", maddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufio.NewReader(c2)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	c2.SetReadDeadline(start.Add(10 * time.Second))
	if _, err := br.ReadByte(); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("an idle kept-alive connection: %v after %s, want closed after %s", err, time.Since(start), lim.idle)
	}
}
