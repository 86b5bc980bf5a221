package source

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool/testpki"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// pki is a folder of certificates: ca.crt and other.crt (another CA);
// sink.crt/key for 127.0.0.1 from ca; client certificates board1 (from
// ca, the sink lists it with Push), nobody (from ca, not listed) and
// stranger (board1's name, from other).
type pki struct{ dir string }

func newPKI(t testing.TB) pki {
	t.Helper()
	dir := t.TempDir()
	testpki.Write(t, dir, []string{"ca", "other"}, map[string]testpki.Cert{
		"sink":     testpki.Server("ca", "sink1"),
		"board1":   testpki.Client("ca", "board1"),
		"nobody":   testpki.Client("ca", "nobody"),
		"stranger": testpki.Client("other", "board1"),
	})
	return pki{dir}
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

// client is the run's TLS for the client certificate base, trusting ca.
func (p pki) client(t testing.TB, base, ca string) *TLS {
	t.Helper()
	cert, err := tlsca.LoadKeyPair(p.path(base+".crt"), p.path(base+".key"))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := tlsca.LoadPool(p.path(ca + ".crt"))
	if err != nil {
		t.Fatal(err)
	}
	return &TLS{Certificate: cert, Roots: roots}
}

// httpsSink is a real sink (package sink) for the test signer, listening
// for TCP and HTTPS on 127.0.0.1, its stored counter starting at floor.
type httpsSink struct {
	cfg     *sink.Config
	tcp     string
	url     string // https://127.0.0.1:PORT
	public  [32]byte
	in, out atomic.Int64 // HTTPS bytes received and sent
}

func startHTTPSSink(t *testing.T, p pki, floor int64) *httpsSink {
	t.Helper()
	dir := t.TempDir()
	var priv [32]byte
	rand.Read(priv[:])
	r, err := packet.NewRecipient(&priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := x509.MarshalPKIXPublicKey(&testSigner(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &sink.Config{
		Address: "127.0.0.1:1", Signer: signer, Counter: floor, Private: priv[:], Drift: 3600,
		Pool: "file:" + filepath.Join(dir, "pool.bin"),
		HTTPS: &sink.HTTPSConfig{Address: "127.0.0.1:8443", Cert: p.path("sink.crt"), Key: p.path("sink.key"),
			ClientCA: p.path("ca.crt"), Clients: map[string]sink.ClientRights{"board1": {Push: true}}},
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sink.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := sink.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sink.New(cfg, sink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := sink.NewHTTPSServer(cfg.HTTPS, cfg.Dir(), srv.HTTPSOptions())
	if err != nil {
		t.Fatal(err)
	}
	s := &httpsSink{cfg: cfg, public: *r.Public()}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.tcp, s.url = tl.Addr().String(), "https://"+hl.Addr().String()
	done := make(chan struct{}, 2)
	go func() { srv.Serve(tl); done <- struct{}{} }()
	go func() { hs.Serve(&countingListener{Listener: hl, s: s}); done <- struct{}{} }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		srv.Shutdown(ctx)
		<-done
		<-done
	})
	return s
}

// stored is the sink's stored counter.
func (s *httpsSink) stored(t testing.TB) int64 {
	t.Helper()
	st, err := sink.Status(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st[0].Counter
}

func (s *httpsSink) entry(more map[string]any) map[string]any {
	e := map[string]any{"Address": s.url, "Public": base64.StdEncoding.EncodeToString(s.public[:]), "Counter": 0, "Name": "https"}
	for k, v := range more {
		e[k] = v
	}
	return e
}

// wire returns the HTTPS bytes both ways so far, once the connections
// have settled.
func (s *httpsSink) wire() int64 {
	time.Sleep(50 * time.Millisecond)
	return s.in.Load() + s.out.Load()
}

type countingListener struct {
	net.Listener
	s *httpsSink
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, s: l.s}, nil
}

type countingConn struct {
	net.Conn
	s *httpsSink
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.s.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.s.out.Add(int64(n))
	return n, err
}

// One run delivers to an https:// sink and a TCP sink; the next resumes
// its TLS session from the sessions file and crosses the wire in fewer
// bytes; the packet accepted over HTTPS is a replay over TCP.
func TestHTTPSAndTCPTargets(t *testing.T) {
	p := newPKI(t)
	key := testSigner(t)
	hs := startHTTPSSink(t, p, 0)
	ts := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{hs.entry(nil), sourcetest.Entry(ts, entry{"Name": "tcp"})})
	clk := newClock()
	cfg := Config{Targets: path, Signer: key, now: clk.Now, TLS: p.client(t, "board1", "ca")}

	var wire [3]int64
	for run := range 3 {
		before := hs.wire()
		cfg.Force = true
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		wire[run] = hs.wire() - before
		if rep.Failed() != 0 || len(rep.Warnings) != 0 {
			t.Fatalf("run %d: %+v", run+1, rep)
		}
		for _, res := range rep.Results {
			if !res.Delivered || res.Counter != int64(run+1) || res.NoReply {
				t.Fatalf("run %d: %+v", run+1, res)
			}
		}
		if r := rep.Results[0]; r.Resumed != (run > 0) {
			t.Fatalf("run %d: https resumed %v", run+1, r.Resumed)
		}
		if c := hs.stored(t); c != int64(run+1) {
			t.Fatalf("run %d: sink's stored counter %d", run+1, c)
		}
	}
	t.Logf("HTTPS bytes per delivery (TLS records, both ways): %d with a full handshake, then %d and %d resumed", wire[0], wire[1], wire[2])
	if wire[0]-wire[1] < 800 || wire[0]-wire[2] < 800 {
		t.Errorf("resumption saved too little: %v", wire)
	}
	fi, err := os.Stat(path + sessionsSuffix)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v %v", fi, err)
	}
	if got := ts.Accepted(); len(got) != 3 {
		t.Fatalf("TCP sink accepted %v", got)
	}
	if len(hs.cfg.HTTPS.Clients) != 1 {
		t.Fatal("sink config changed")
	}
}

// A sink whose stored counter is ahead answers 409 with it: the source
// follows it, within the same bound as for 0x02, and retries once.
func TestHTTPSCounterResync(t *testing.T) {
	p := newPKI(t)
	hs := startHTTPSSink(t, p, 1000)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{hs.entry(nil)})
	cfg := Config{Targets: path, Signer: testSigner(t), now: newClock().Now, TLS: p.client(t, "board1", "ca")}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results[0]
	if !res.Delivered || !res.Retried || res.Counter != 1001 || !res.Resumed {
		t.Fatalf("result %+v", res)
	}
	if c := mustLoad(t, path).Entries[0].Counter; c != 1001 {
		t.Fatalf("file counter %d", c)
	}
	if c := hs.stored(t); c != 1001 {
		t.Fatalf("sink's counter %d", c)
	}

	// Beyond the bound: not followed, as for 0x02.
	far := startHTTPSSink(t, p, 1<<33)
	path2 := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path2, []entry{far.entry(nil)})
	cfg.Targets = path2
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var cj *counterJumpError
	if res := rep.Results[0]; res.Delivered || !errors.As(res.err, &cj) || res.Counter != 1 {
		t.Fatalf("far counter: %+v", res)
	}
}

// A wrong CA fails that target with a clear error; its reserved counter is
// consumed, nothing else moves: not the other target's, not the sink's. A
// session stored while the CA was right does not get past it either.
func TestHTTPSWrongCA(t *testing.T) {
	p := newPKI(t)
	key := testSigner(t)
	hs := startHTTPSSink(t, p, 0)
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.json")
	for _, tc := range []struct {
		name string
		run  *TLS
		ca   string // the entry's
		want string
	}{
		{"run's CA", p.client(t, "board1", "other"), "", "not issued by the run's CA"},
		{"entry's CA", p.client(t, "board1", "ca"), p.path("other.crt"), `not issued by the entry's CA ("` + p.path("other.crt")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
			sourcetest.WriteTargets(t, path, []entry{hs.entry(entry{"CA": tc.ca}), sourcetest.Entry(ts, entry{"Name": "tcp"})})
			os.Remove(path + sessionsSuffix)
			cfg := Config{Targets: path, Signer: key, now: newClock().Now, TLS: tc.run, Force: true}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			bad, good := rep.Results[0], rep.Results[1]
			if bad.Delivered || !strings.Contains(bad.Target.LastError, tc.want) || bad.Counter != 1 || bad.Target.Counter != 1 {
				t.Fatalf("https: %+v", bad)
			}
			if !good.Delivered || good.Counter != 1 {
				t.Fatalf("tcp: %+v", good)
			}
			if c := hs.stored(t); c != 0 {
				t.Fatalf("sink's counter %d", c)
			}
		})
	}

	// Right CA first (a session is stored), then the wrong one.
	sourcetest.WriteTargets(t, path, []entry{hs.entry(nil)})
	os.Remove(path + sessionsSuffix)
	cfg := Config{Targets: path, Signer: key, now: newClock().Now, TLS: p.client(t, "board1", "ca"), Force: true}
	if rep, err := Run(context.Background(), cfg); err != nil || !rep.Results[0].Delivered {
		t.Fatalf("right CA: %v %+v", err, rep)
	}
	cfg.TLS = p.client(t, "board1", "other")
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := rep.Results[0]; res.Delivered || res.Resumed || !strings.Contains(res.Target.LastError, "not issued by") {
		t.Fatalf("wrong CA with a stored session: %+v", res)
	}
	if c := hs.stored(t); c != 1 {
		t.Fatalf("sink's counter %d", c)
	}
}

// No client certificate, or no CA: the https:// target fails before a
// counter is reserved for it; the TCP target is delivered.
func TestHTTPSNotConfigured(t *testing.T) {
	p := newPKI(t)
	key := testSigner(t)
	hs := startHTTPSSink(t, p, 0)
	ts := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	noRoots := p.client(t, "board1", "ca")
	noRoots.Roots = nil
	for _, tc := range []struct {
		tls  *TLS
		ca   string
		want error
	}{
		{nil, "", errNoClientCert},
		{noRoots, "", errNoRoots},
		{p.client(t, "board1", "ca"), "missing.crt", os.ErrNotExist},
	} {
		sourcetest.WriteTargets(t, path, []entry{hs.entry(entry{"CA": tc.ca}), sourcetest.Entry(ts, entry{"Name": "tcp"})})
		cfg := Config{Targets: path, Signer: key, now: newClock().Now, TLS: tc.tls, Force: true}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		bad, good := rep.Results[0], rep.Results[1]
		if bad.Delivered || !errors.Is(bad.err, tc.want) || bad.Counter != 0 || bad.Target.Counter != 0 {
			t.Errorf("%v: https %+v", tc.want, bad)
		}
		if !good.Delivered {
			t.Errorf("%v: tcp %+v", tc.want, good)
		}
		if _, err := os.Stat(path + sessionsSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: a sessions file: %v", tc.want, err)
		}
	}
	if c := hs.stored(t); c != 0 {
		t.Fatalf("sink's counter %d", c)
	}
}

// The sink refuses a client it does not list, or whose certificate is
// from another CA: the error says which and what to fix.
func TestHTTPSClientRefused(t *testing.T) {
	p := newPKI(t)
	hs := startHTTPSSink(t, p, 0)
	path := filepath.Join(t.TempDir(), "targets.json")
	for _, tc := range []struct{ base, want string }{
		{"nobody", `HTTP 403 (unauthorised): client certificate is not one of this sink's clients; list "nobody" in the sink's HTTPS.Clients`},
		{"stranger", "the sink refused this source's client certificate"},
	} {
		sourcetest.WriteTargets(t, path, []entry{hs.entry(nil)})
		cfg := Config{Targets: path, Signer: testSigner(t), now: newClock().Now, TLS: p.client(t, tc.base, "ca")}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res := rep.Results[0]; res.Delivered || !strings.Contains(res.Target.LastError, tc.want) {
			t.Errorf("%s: %q", tc.base, res.Target.LastError)
		}
	}
	if c := hs.stored(t); c != 0 {
		t.Fatalf("sink's counter %d", c)
	}
}

// A sessions file that is too open, or damaged, is not used (a warning, a
// full handshake) and is written afresh, 0600.
func TestHTTPSSessionsFileProblems(t *testing.T) {
	p := newPKI(t)
	hs := startHTTPSSink(t, p, 0)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{hs.entry(nil)})
	cfg := Config{Targets: path, Signer: testSigner(t), now: newClock().Now, TLS: p.client(t, "board1", "ca"), Force: true}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	sessions := path + sessionsSuffix
	data, err := os.ReadFile(sessions)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]sessionEntry
	if err := json.Unmarshal(data, &m); err != nil || len(m) != 1 {
		t.Fatalf("sessions file: %v %s", err, data)
	}
	for _, tc := range []struct {
		spoil func()
		want  string
	}{
		{func() { os.Chmod(sessions, 0o644) }, "chmod"},
		{func() { os.WriteFile(sessions, []byte("{"), 0o600) }, "does not parse"},
	} {
		tc.spoil()
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res := rep.Results[0]; !res.Delivered || res.Resumed || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], tc.want) {
			t.Fatalf("%s: %+v %q", tc.want, res, rep.Warnings)
		}
		if fi, err := os.Stat(sessions); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: not written afresh: %v %v", tc.want, fi, err)
		}
		if rep, _ := Run(context.Background(), cfg); !rep.Results[0].Resumed {
			t.Fatalf("%s: the next run did not resume", tc.want)
		}
	}
}

func TestHTTPSAddress(t *testing.T) {
	valid := []string{"https://sink.example.net", "https://sink.example.net:8443", "https://192.0.2.1:8443", "https://[2001:db8::1]:8443"}
	invalid := map[string]string{
		"https://":                        "no host",
		"https://:8443":                   "no host",
		"https://sink:0":                  "bad port",
		"https://sink:65536":              "bad port",
		"https://sink:":                   "bad port",
		"https://sink:https":              "want https://HOST[:PORT]",
		"https://sink:8443/":              "a path",
		"https://sink:8443/v1/packet":     "a path",
		"https://sink:8443?x=1":           "a path, query",
		"https://sink:8443#x":             "fragment",
		"https://user@sink:8443":          "a user name",
		"https://sink:8443 ":              "want https://HOST[:PORT]",
		"https://sink.example.net:8443?":  "a path, query",
		"https://sink.example.net:8443#":  "fragment",
		"https://sink.example.net%zz:443": "want https://HOST[:PORT]",
	}
	key := PublicKey{1}
	for _, a := range valid {
		tg := &Target{Address: a, Public: key, CA: "ca.crt"}
		if err := tg.Validate(); err != nil || !tg.HTTPS() {
			t.Errorf("%s: %v", a, err)
		}
	}
	for a, want := range invalid {
		tg := &Target{Address: a, Public: key}
		if err := tg.Validate(); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "Address: ") {
			t.Errorf("%q: %v, want %q", a, err, want)
		}
	}
	if err := (&Target{Address: "sink:4141", Public: key, CA: "ca.crt"}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "CA: ") {
		t.Errorf("CA on a TCP target: %v", err)
	}
}
