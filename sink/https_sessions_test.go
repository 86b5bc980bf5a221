package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// countingListener counts the bytes of the connections it hands out.
type countingListener struct {
	net.Listener
	in, out atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.l.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.l.out.Add(int64(n))
	return n, err
}

// fixedCache always offers the first session it was given.
type fixedCache struct {
	mu sync.Mutex
	s  *tls.ClientSessionState
}

func (c *fixedCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s, c.s != nil
}

func (c *fixedCache) Put(_ string, s *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s == nil {
		c.s = s
	}
}

// The listener resumes sessions by small handles, each once, for listed
// clients only, a few per client; a resumed client is still known by its
// certificate's name.
func TestHTTPSSessionResumption(t *testing.T) {
	dir := newPKI(t)
	s, err := NewHTTPSServer(httpsConfig(t), dir, HTTPSOptions{Accept: acceptAll})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{Listener: raw}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-served
	})
	base := "https://" + raw.Addr().String()
	client := func(base string, cache tls.ClientSessionCache) *http.Client {
		tc := clientTLS(t, dir, base)
		tc.ClientSessionCache = cache
		tc.CurvePreferences = []tls.CurveID{tls.X25519}
		tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	// push POSTs a packet and returns whether the handshake resumed and
	// the bytes both ways.
	push := func(c *http.Client) (resumed bool, wire int64) {
		t.Helper()
		before := l.in.Load() + l.out.Load()
		resp, err := c.Post(base+"/v1/packet", "application/octet-stream", bytes.NewReader(make([]byte, 1381)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST: %s", resp.Status)
		}
		// The server has read the request and written the answer; wait for
		// its side of the close.
		time.Sleep(50 * time.Millisecond)
		return resp.TLS.DidResume, l.in.Load() + l.out.Load() - before
	}

	board := client("board1", tls.NewLRUClientSessionCache(4))
	r1, full := push(board)
	r2, resumed := push(board)
	r3, _ := push(board)
	if r1 || !r2 || !r3 {
		t.Fatalf("resumed: %v %v %v", r1, r2, r3)
	}
	if full-resumed < 800 {
		t.Fatalf("full handshake %d bytes, resumed %d: resumption should save about 1.1 KB", full, resumed)
	}
	t.Logf("POST of 1381 bytes: %d bytes with a full handshake, %d resumed", full, resumed)

	// A handle is good once.
	fixed := &fixedCache{}
	once := client("board1", fixed)
	push(once)
	if r, _ := push(once); !r {
		t.Fatal("first use of a session did not resume")
	}
	if r, _ := push(once); r {
		t.Fatal("a session resumed twice")
	}

	// Unlisted clients are refused, and get no session kept.
	nobody := client("nobody", tls.NewLRUClientSessionCache(4))
	n := s.sessions.len()
	for range 3 {
		resp, err := nobody.Get(base + "/v1/random")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.TLS.DidResume {
			t.Fatalf("nobody: %s resumed %v", resp.Status, resp.TLS.DidResume)
		}
	}
	if s.sessions.len() != n {
		t.Fatalf("sessions for an unlisted client: %d, was %d", s.sessions.len(), n)
	}
	// At most sessionsPerClient per client.
	for range 2 * sessionsPerClient {
		push(client("board1", tls.NewLRUClientSessionCache(1)))
	}
	s.sessions.mu.Lock()
	kept := len(s.sessions.byClient["board1"])
	s.sessions.mu.Unlock()
	if kept != sessionsPerClient {
		t.Fatalf("%d sessions kept for board1, want %d", kept, sessionsPerClient)
	}
}

// A stored session past its lifetime is not resumed.
func TestSessionStoreExpiry(t *testing.T) {
	clock := &testClock{t: epoch}
	st := newSessionStore(map[string]ClientRights{"board1": {Push: true}}, clock.now)
	st.byHandle["h"] = &storedSession{client: "board1", state: []byte("x"), made: epoch}
	st.byClient["board1"] = []string{"h"}
	clock.add(sessionLifetime + time.Second)
	if ss, err := st.unwrap([]byte("h"), tls.ConnectionState{}); ss != nil || err != nil || st.len() != 0 {
		t.Fatalf("expired: %v %v, %d left", ss, err, st.len())
	}
	if ss, err := st.unwrap([]byte("nothing"), tls.ConnectionState{}); ss != nil || err != nil {
		t.Fatalf("unknown handle: %v %v", ss, err)
	}
}

func acceptAll(context.Context, []byte) (packet.Status, int64, error) {
	return packet.StatusAccepted, 0, nil
}
