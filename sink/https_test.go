package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/testtool/testpki"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newPKI makes a folder with a CA (ca.crt), the sink's certificate for
// 127.0.0.1 (sink.crt, sink.key) and client certificates BASE.crt and
// BASE.key: board1, web1, web2, web3 and nobody from that CA, stranger
// (named web1) from another.
func newPKI(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	testpki.Write(t, dir, []string{"ca", "other"}, map[string]testpki.Cert{
		"sink":     testpki.Server("ca", "sink1"),
		"board1":   testpki.Client("ca", "board1"),
		"web1":     testpki.Client("ca", "web1"),
		"web2":     testpki.Client("ca", "web2"),
		"web3":     testpki.Client("ca", "web3"),
		"nobody":   testpki.Client("ca", "nobody"),
		"stranger": testpki.Client("other", "web1"),
	})
	return dir
}

// httpsConfig lists board1 (Push), web1 (Random, a large budget) and web2
// (both rights, a small bucket and budget); nobody is not listed.
func httpsConfig(t testing.TB) *HTTPSConfig {
	return &HTTPSConfig{
		Address:  "127.0.0.1:8443",
		Cert:     "sink.crt",
		Key:      "sink.key",
		ClientCA: "ca.crt",
		Clients: map[string]ClientRights{
			"board1": {Push: true},
			"web1":   {Random: true, BytesPerDay: 1 << 30, RequestsPerSecond: 1e6, RequestBurst: 1e6},
			"web2":   {Push: true, Random: true, BytesPerDay: 100, RequestsPerSecond: 1, RequestBurst: 3},
		},
	}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startHTTPS serves c on a 127.0.0.1 listener until the test ends, then
// checks that it shut down.
func startHTTPS(t *testing.T, dir string, c *HTTPSConfig, o HTTPSOptions) (*HTTPSServer, string) {
	t.Helper()
	if o.Accept == nil {
		o.Accept = func(context.Context, []byte) (packet.Status, int64, error) { return packet.StatusAccepted, 0, nil }
	}
	s, err := NewHTTPSServer(c, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, "https://" + l.Addr().String()
}

// clientTLS is the TLS configuration of the client with certificate base.
func clientTLS(t testing.TB, dir, base string) *tls.Config {
	t.Helper()
	c, err := tlsca.ClientConfig(filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func httpsClientFor(t testing.TB, cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

type httpsAnswer struct {
	code       int
	header     http.Header
	body       []byte
	httpsReply httpsReply
	value      json.RawMessage
}

func httpsDo(t testing.TB, c *http.Client, method, url string, body io.Reader) httpsAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := httpsAnswer{code: resp.StatusCode, header: resp.Header, body: b}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", method, url, resp.Header.Get("Cache-Control"))
	}
	if resp.Header.Get("Content-Type") == "application/json" {
		var v struct {
			httpsReply
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: %v: %q", method, url, err, b)
		}
		a.httpsReply, a.value = v.httpsReply, v.Value
	}
	return a
}

// testStream is a reproducible random source.
func testStream(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed})
}

func TestHTTPSRandomBytes(t *testing.T) {
	dir := newPKI(t)
	_, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{Random: testStream(1)})
	c := httpsClientFor(t, clientTLS(t, dir, "web1"))
	want := make([]byte, 32+64+48+MaxRandomBytes+1)
	io.ReadFull(testStream(1), want)

	a := httpsDo(t, c, "GET", base+"/v1/random", nil)
	if a.code != 200 || a.header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(a.body, want[:32]) {
		t.Fatalf("default: %d %q % x", a.code, a.header.Get("Content-Type"), a.body)
	}
	want = want[32:]
	a = httpsDo(t, c, "GET", base+"/v1/random?bytes=64&format=hex", nil)
	if a.code != 200 || string(a.body) != hex.EncodeToString(want[:64])+"\n" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("hex: %d %q", a.code, a.body)
	}
	want = want[64:]
	a = httpsDo(t, c, "GET", base+"/v1/random?format=base64&bytes=48", nil)
	if a.code != 200 || string(a.body) != base64.StdEncoding.EncodeToString(want[:48])+"\n" {
		t.Fatalf("base64: %d %q", a.code, a.body)
	}
	want = want[48:]
	a = httpsDo(t, c, "GET", base+"/v1/random?bytes=65536&format=raw", nil)
	if a.code != 200 || !bytes.Equal(a.body, want[:MaxRandomBytes]) {
		t.Fatalf("65536: %d, %d bytes", a.code, len(a.body))
	}
	a = httpsDo(t, c, "GET", base+"/v1/random?bytes=1", nil)
	if a.code != 200 || len(a.body) != 1 {
		t.Fatalf("1: %d, %d bytes", a.code, len(a.body))
	}

	for _, q := range []string{"bytes=0", "bytes=65537", "bytes=-1", "bytes=x", "bytes=", "format=bin", "format=",
		"byte=32", "bytes=1&bytes=2", "bytes=%zz"} {
		a := httpsDo(t, c, "GET", base+"/v1/random?"+q, nil)
		if a.code != 400 || a.httpsReply.Status != statusBadRequest || a.httpsReply.Error == "" {
			t.Errorf("%s: %d %q", q, a.code, a.body)
		}
	}
}

func TestHTTPSInt(t *testing.T) {
	dir := newPKI(t)
	_, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{})
	c := httpsClientFor(t, clientTLS(t, dir, "web1"))
	value := func(q string) int64 {
		t.Helper()
		a := httpsDo(t, c, "GET", base+"/v1/int?"+q, nil)
		if a.code != 200 {
			t.Fatalf("%s: %d %q", q, a.code, a.body)
		}
		v, err := strconv.ParseInt(string(a.value), 10, 64)
		if err != nil {
			t.Fatalf("%s: value %q", q, a.value)
		}
		return v
	}
	seen := map[int64]int{}
	for range 200 {
		v := value("min=-1&max=2")
		if v < -1 || v > 2 {
			t.Fatalf("%d outside [-1, 2]", v)
		}
		seen[v]++
	}
	if seen[-1] == 0 || seen[2] == 0 || len(seen) != 4 {
		t.Fatalf("200 draws from [-1, 2]: %v", seen)
	}
	if v := value("min=7&max=7"); v != 7 {
		t.Fatalf("[7, 7]: %d", v)
	}
	// The whole int64 range, and bounds at its ends: exact in the JSON.
	value(fmt.Sprintf("min=%d&max=%d", int64(math.MinInt64), int64(math.MaxInt64)))
	if v := value(fmt.Sprintf("min=%d&max=%d", int64(math.MaxInt64), int64(math.MaxInt64))); v != math.MaxInt64 {
		t.Fatalf("[max, max]: %d", v)
	}
	if v := value(fmt.Sprintf("min=%d&max=%d", int64(math.MinInt64), int64(math.MinInt64))); v != math.MinInt64 {
		t.Fatalf("[min, min]: %d", v)
	}
	for _, q := range []string{"min=2&max=1", "min=1", "max=1", "", "min=a&max=1", "min=0&max=9223372036854775808",
		"min=1.5&max=2", "min=0&max=1&n=2"} {
		a := httpsDo(t, c, "GET", base+"/v1/int?"+q, nil)
		if a.code != 400 || a.httpsReply.Status != statusBadRequest {
			t.Errorf("%q: %d %q", q, a.code, a.body)
		}
	}
}

// uniformInt redraws the words that would bias the result, and takes the
// whole range as it comes.
func TestUniformInt(t *testing.T) {
	words := func(ws ...uint64) io.Reader {
		var b []byte
		for _, w := range ws {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		return bytes.NewReader(b)
	}
	for _, tc := range []struct {
		lo, hi int64
		words  []uint64
		want   int64
	}{
		// n = 3: 2^64 mod 3 = 1, so the one word 2^64-1 is drawn again.
		{10, 12, []uint64{math.MaxUint64, 5}, 12},
		{10, 12, []uint64{math.MaxUint64 - 1}, 10 + (math.MaxUint64-1)%3},
		// [MinInt64, 0]: n = 2^63 + 1, 2^64 mod n = 2^63 - 1, so the
		// words from 2^63 + 1 up are drawn again; 2^63 is n - 1, the top.
		{math.MinInt64, 0, []uint64{1<<63 + 1, math.MaxUint64, 1 << 63}, 0},
		{math.MinInt64, 0, []uint64{1<<63 - 1}, -1},
		// A power of two divides 2^64: nothing redrawn.
		{-8, 7, []uint64{math.MaxUint64}, 7},
		// The whole range: the word as it is.
		{math.MinInt64, math.MaxInt64, []uint64{1 << 63}, math.MinInt64},
		{math.MinInt64, math.MaxInt64, []uint64{math.MaxUint64}, -1},
		{5, 5, []uint64{math.MaxUint64}, 5},
	} {
		got, err := uniformInt(words(tc.words...), tc.lo, tc.hi)
		if err != nil || got != tc.want {
			t.Errorf("[%d, %d] from %x: %d %v, want %d", tc.lo, tc.hi, tc.words, got, err, tc.want)
		}
	}
	if _, err := uniformInt(words(math.MaxUint64), 0, 2); !errors.Is(err, io.EOF) {
		t.Fatalf("source ran dry: %v", err)
	}
	// Over many draws from a small range, every value about as often.
	src := testStream(2)
	counts := make([]int, 6)
	for range 60000 {
		v, _ := uniformInt(src, -3, 2)
		counts[v+3]++
	}
	for i, n := range counts {
		if n < 9500 || n > 10500 { // 10000 expected; sd 91
			t.Fatalf("value %d drawn %d times of 60000: %v", i-3, n, counts)
		}
	}
}

func TestHTTPSBoolUUID(t *testing.T) {
	dir := newPKI(t)
	_, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{})
	c := httpsClientFor(t, clientTLS(t, dir, "web1"))
	seen := map[string]bool{}
	for range 64 {
		a := httpsDo(t, c, "GET", base+"/v1/bool", nil)
		if a.code != 200 || (string(a.value) != "true" && string(a.value) != "false") {
			t.Fatalf("bool: %d %q", a.code, a.body)
		}
		seen[string(a.value)] = true
	}
	if len(seen) != 2 {
		t.Fatalf("64 booleans: %v", seen)
	}
	v4 := regexp.MustCompile(`^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$`)
	uuids := map[string]bool{}
	for range 32 {
		a := httpsDo(t, c, "GET", base+"/v1/uuid", nil)
		if a.code != 200 || !v4.Match(a.value) || uuids[string(a.value)] {
			t.Fatalf("uuid: %d %q", a.code, a.body)
		}
		uuids[string(a.value)] = true
	}
	for _, p := range []string{"/v1/bool?x=1", "/v1/uuid?version=7"} {
		if a := httpsDo(t, c, "GET", base+p, nil); a.code != 400 {
			t.Errorf("%s: %d", p, a.code)
		}
	}
}

// Who may do what: listed clients with the right, over TLS 1.3, with a
// certificate from ClientCA.
func TestHTTPSAuthorisation(t *testing.T) {
	dir := newPKI(t)
	_, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{Accept: func(context.Context, []byte) (packet.Status, int64, error) {
		return packet.StatusAccepted, 0, nil
	}})
	board := httpsClientFor(t, clientTLS(t, dir, "board1"))
	for _, p := range []string{"/v1/random", "/v1/int?min=0&max=1", "/v1/bool", "/v1/uuid"} {
		a := httpsDo(t, board, "GET", base+p, nil)
		if a.code != 403 || a.httpsReply.Status != statusForbidden || !strings.Contains(a.httpsReply.Error, "Random") {
			t.Errorf("board1 %s: %d %q", p, a.code, a.body)
		}
	}
	web := httpsClientFor(t, clientTLS(t, dir, "web1"))
	if a := httpsDo(t, web, "POST", base+"/v1/packet", bytes.NewReader(make([]byte, 100))); a.code != 403 || !strings.Contains(a.httpsReply.Error, "Push") {
		t.Errorf("web1 push: %d %q", a.code, a.body)
	}
	if a := httpsDo(t, board, "POST", base+"/v1/packet", bytes.NewReader(make([]byte, 100))); a.code != 200 {
		t.Errorf("board1 push: %d %q", a.code, a.body)
	}
	nobody := httpsClientFor(t, clientTLS(t, dir, "nobody"))
	if a := httpsDo(t, nobody, "GET", base+"/v1/random", nil); a.code != 403 || a.httpsReply.Status != statusUnauthorised {
		t.Errorf("unlisted client: %d %q", a.code, a.body)
	}
	if a := httpsDo(t, web, "GET", base+"/v1/nothing", nil); a.code != 404 || a.httpsReply.Status != statusNotFound {
		t.Errorf("unknown path: %d %q", a.code, a.body)
	}
	if a := httpsDo(t, web, "POST", base+"/v1/random", strings.NewReader("x")); a.code != 405 || a.header.Get("Allow") != "GET" {
		t.Errorf("POST /v1/random: %d %q %q", a.code, a.header.Get("Allow"), a.body)
	}
	if a := httpsDo(t, board, "GET", base+"/v1/packet", nil); a.code != 405 || a.header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/packet: %d", a.code)
	}

	// No request reaches the handler without a certificate from ClientCA,
	// over anything but TLS 1.3.
	fails := func(what string, cfg *tls.Config) {
		t.Helper()
		resp, err := httpsClientFor(t, cfg).Get(base + "/v1/random")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: %s", what, resp.Status)
		}
	}
	stranger := clientTLS(t, dir, "stranger") // named web1, from another CA
	fails("another CA's certificate", stranger)
	none := clientTLS(t, dir, "web1")
	none.Certificates = nil
	fails("no certificate", none)
	old := clientTLS(t, dir, "web1")
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	fails("TLS 1.2", old)
}

func TestHTTPSLimits(t *testing.T) {
	dir := newPKI(t)
	clock := &testClock{t: time.Unix(1700000000, 0)}
	s, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{Now: clock.now, Accept: func(context.Context, []byte) (packet.Status, int64, error) {
		return packet.StatusAccepted, 0, nil
	}})
	c := httpsClientFor(t, clientTLS(t, dir, "web2")) // 1 request/s, burst 3; 100 bytes a day

	// The request bucket: three at once, then one a second, whatever the
	// endpoint.
	for i, p := range []string{"/v1/bool", "/v1/nothing", "/v1/uuid"} {
		if a := httpsDo(t, c, "GET", base+p, nil); a.code == 429 {
			t.Fatalf("request %d: 429", i)
		}
	}
	a := httpsDo(t, c, "GET", base+"/v1/bool", nil)
	if a.code != 429 || a.httpsReply.Status != statusRate || a.header.Get("Retry-After") != "1" {
		t.Fatalf("fourth request: %d %q %q", a.code, a.header.Get("Retry-After"), a.body)
	}
	if a := httpsDo(t, c, "POST", base+"/v1/packet", bytes.NewReader(make([]byte, 100))); a.code != 429 {
		t.Fatalf("a packet past the bucket: %d", a.code)
	}
	clock.add(time.Second)
	if a := httpsDo(t, c, "GET", base+"/v1/bool", nil); a.code != 200 {
		t.Fatalf("a second later: %d %q", a.code, a.body)
	}

	// The byte budget: 1 + 16 + 1 spent above, of 100, refilled at 100
	// bytes a day (one per 864 s).
	clock.add(time.Hour) // +4.17 bytes; 3601 s since the start
	if a := httpsDo(t, c, "GET", base+"/v1/random?bytes=82", nil); a.code != 200 || len(a.body) != 82 {
		t.Fatalf("82 bytes: %d %q", a.code, a.body)
	}
	a = httpsDo(t, c, "GET", base+"/v1/random?bytes=50", nil)
	// 3601/864 bytes left: the 50 are there 50*864 - 3601 s from now.
	retry, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.code != 429 || a.httpsReply.Status != statusBudget || retry < 39598 || retry > 39600 {
		t.Fatalf("past the budget: %d %q %q", a.code, a.header.Get("Retry-After"), a.body)
	}
	if a := httpsDo(t, c, "GET", base+"/v1/random?bytes=101", nil); a.code != 429 || a.header.Get("Retry-After") != "" ||
		!strings.Contains(a.httpsReply.Error, "more than the daily budget of 100") {
		t.Fatalf("more than the whole budget: %d %q %q", a.code, a.header.Get("Retry-After"), a.body)
	}
	clock.add(time.Duration(retry) * time.Second)
	if a := httpsDo(t, c, "GET", base+"/v1/random?bytes=50", nil); a.code != 200 || len(a.body) != 50 {
		t.Fatalf("after Retry-After: %d %q", a.code, a.body)
	}
	// Pushing spends no bytes, and the refusals above none either.
	m := s.api.m
	if got := testutil.ToFloat64(m.served.WithLabelValues("web2")); got != 1+16+1+82+50 {
		t.Fatalf("bytes served to web2: %v", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("web2", "random", "429")); got != 2 {
		t.Fatalf("429s on random: %v", got)
	}
}

func TestHTTPSPacket(t *testing.T) {
	dir := newPKI(t)
	var (
		mu   sync.Mutex
		got  [][]byte
		next struct {
			status packet.Status
			value  int64
			err    error
		}
	)
	accept := func(ctx context.Context, payload []byte) (packet.Status, int64, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, payload)
		return next.status, next.value, next.err
	}
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	_, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{Accept: accept, MaxFrame: 2000,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Registerer: reg})
	c := httpsClientFor(t, clientTLS(t, dir, "board1"))
	payload := make([]byte, 1509)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, tc := range []struct {
		status packet.Status
		value  int64
		err    error
		code   int
		name   string
		retry  string
	}{
		{packet.StatusAccepted, 0, nil, 200, "accepted", ""},
		{packet.StatusUnverified, 0, packet.ErrSignature, 403, "unverified", ""},
		{packet.StatusCounter, 41, packet.ErrCounter, 409, "counter", ""},
		{packet.StatusDrift, 1700000000, packet.ErrDrift, 422, "drift", ""},
		{packet.StatusMalformed, 0, packet.ErrMalformed, 400, "malformed", ""},
		{packet.StatusUnavailable, 0, errStore, 503, "unavailable", "60"},
		{packet.StatusBusy, 0, errors.New("sink: too many connections"), 503, "busy", "10"},
		{packet.Status(0x7f), 0, errors.New("what"), 500, statusInternal, ""},
	} {
		mu.Lock()
		next.status, next.value, next.err = tc.status, tc.value, tc.err
		mu.Unlock()
		a := httpsDo(t, c, "POST", base+"/v1/packet", bytes.NewReader(payload))
		if a.code != tc.code || a.httpsReply.Status != tc.name || a.header.Get("Retry-After") != tc.retry {
			t.Errorf("%s: %d %q %q", tc.status, a.code, a.header.Get("Retry-After"), a.body)
		}
		if (tc.status == packet.StatusCounter) != (a.httpsReply.Stored != nil) || (a.httpsReply.Stored != nil && *a.httpsReply.Stored != 41) {
			t.Errorf("%s: stored %v", tc.status, a.httpsReply.Stored)
		}
		if (tc.status == packet.StatusDrift) != (a.httpsReply.Now != nil) || (a.httpsReply.Now != nil && *a.httpsReply.Now != 1700000000) {
			t.Errorf("%s: now %v", tc.status, a.httpsReply.Now)
		}
		if (tc.code == 200) != (a.httpsReply.Error == "") {
			t.Errorf("%s: error %q", tc.status, a.httpsReply.Error)
		}
	}
	mu.Lock()
	n := len(got)
	for _, p := range got {
		if !bytes.Equal(p, payload) {
			t.Fatal("accept was not given the payload as sent")
		}
	}
	mu.Unlock()
	if !strings.Contains(logs.String(), `"client":"board1"`) || !strings.Contains(logs.String(), `"reason":"counter"`) {
		t.Fatalf("log:\n%s", logs)
	}

	// Refused before accept sees them: too large (announced or not), too
	// short, not octets.
	big := bytes.NewReader(make([]byte, 2001))
	if a := httpsDo(t, c, "POST", base+"/v1/packet", big); a.code != 413 || a.httpsReply.Status != statusTooLarge {
		t.Errorf("2001 bytes: %d %q", a.code, a.body)
	}
	// No Content-Length: MaxBytesReader stops it.
	req, _ := http.NewRequest("POST", base+"/v1/packet", io.MultiReader(bytes.NewReader(make([]byte, 3000))))
	req.ContentLength = -1
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("3000 bytes chunked: %d", resp.StatusCode)
	}
	if a := httpsDo(t, c, "POST", base+"/v1/packet", bytes.NewReader(make([]byte, packet.MinFrame-1))); a.code != 400 || a.httpsReply.Status != "malformed" {
		t.Errorf("%d bytes: %d %q", packet.MinFrame-1, a.code, a.body)
	}
	req, _ = http.NewRequest("POST", base+"/v1/packet", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 415 {
		t.Errorf("JSON body: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	mu.Lock()
	if len(got) != n {
		t.Errorf("accept saw %d refused requests", len(got)-n)
	}
	mu.Unlock()
	if n, err := testutil.GatherAndCount(reg, "entropyshare_sink_https_requests_total"); err != nil || n < 8 {
		t.Fatalf("requests series: %d %v", n, err)
	}
}

func TestHTTPSNeedsAccept(t *testing.T) {
	dir := newPKI(t)
	if _, err := NewHTTPSServer(httpsConfig(t), dir, HTTPSOptions{}); err == nil || !strings.Contains(err.Error(), `"board1" may push`) {
		t.Fatalf("pushing clients without Accept: %v", err)
	}
	c := httpsConfig(t)
	os.Chmod(filepath.Join(dir, "sink.key"), 0o640)
	delete(c.Clients, "board1")
	delete(c.Clients, "web2")
	if _, err := NewHTTPSServer(c, dir, HTTPSOptions{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("0640 key: %v", err)
	}
}

func TestHTTPSConfigValidate(t *testing.T) {
	dir := newPKI(t)
	if err := httpsConfig(t).Validate(dir); err != nil {
		t.Fatal(err)
	}
	abs := httpsConfig(t)
	abs.Cert = filepath.Join(dir, "sink.crt")
	if err := abs.Validate("/nonexistent"); err == nil || !strings.Contains(err.Error(), "HTTPS.Key") {
		t.Fatalf("absolute Cert, relative Key elsewhere: %v", err)
	}
	for _, tc := range []struct {
		edit  func(*HTTPSConfig)
		field string
	}{
		{func(c *HTTPSConfig) { c.Address = "" }, "HTTPS.Address: missing"},
		{func(c *HTTPSConfig) { c.Address = "8443" }, "HTTPS.Address"},
		{func(c *HTTPSConfig) { c.Address = ":0" }, "HTTPS.Address: port"},
		{func(c *HTTPSConfig) { c.Address = ":65536" }, "HTTPS.Address: port"},
		{func(c *HTTPSConfig) { c.Address = ":https" }, "HTTPS.Address: port"},
		{func(c *HTTPSConfig) { c.Cert = "" }, "HTTPS.Cert: missing"},
		{func(c *HTTPSConfig) { c.Key = "nosuch.key" }, "HTTPS.Key"},
		{func(c *HTTPSConfig) { c.ClientCA = "nosuch.crt" }, "HTTPS.ClientCA"},
		{func(c *HTTPSConfig) { c.Clients = nil }, "HTTPS.Clients: missing"},
		{func(c *HTTPSConfig) { c.Clients["x"] = ClientRights{} }, `HTTPS.Clients["x"]: no rights`},
		{func(c *HTTPSConfig) { c.Clients[""] = ClientRights{Push: true} }, "empty name"},
		{func(c *HTTPSConfig) { c.Clients["x"] = ClientRights{Random: true, BytesPerDay: -1} }, `HTTPS.Clients["x"].BytesPerDay`},
		{func(c *HTTPSConfig) { c.Clients["x"] = ClientRights{Push: true, BytesPerDay: 10} }, "without Random"},
		{func(c *HTTPSConfig) { c.Clients["x"] = ClientRights{Push: true, RequestsPerSecond: -1} }, "RequestsPerSecond"},
		{func(c *HTTPSConfig) { c.Clients["x"] = ClientRights{Push: true, RequestsPerSecond: math.Inf(1)} }, "RequestsPerSecond"},
		{func(c *HTTPSConfig) { c.Clients["x"] = ClientRights{Push: true, RequestBurst: -1} }, "RequestBurst"},
		{func(c *HTTPSConfig) { c.MaxConns = -1 }, "HTTPS.MaxConns"},
		{func(c *HTTPSConfig) { c.MaxConnsPerAddress = -1 }, "HTTPS.MaxConnsPerAddress"},
	} {
		c := httpsConfig(t)
		tc.edit(c)
		err := c.Validate(dir)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v, want %q", err, tc.field)
		}
	}
	// The JSON shape the issue gives.
	var c HTTPSConfig
	if err := json.Unmarshal([]byte(`{ "Address": ":8443", "Cert": "sink.crt", "Key": "sink.key", "ClientCA": "ca.crt",
		"Clients": { "board1": {"Push": true}, "web1": {"Random": true, "BytesPerDay": 1048576} } }`), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(dir); err != nil || !c.Clients["board1"].Push || c.Clients["web1"].BytesPerDay != 1<<20 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestAddrKey(t *testing.T) {
	key := func(s string) netip.Prefix { return addrKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s))) }
	same := [][2]string{
		{"[2001:db8::1]:1", "[2001:db8::ffff:1]:2"},
		{"[2001:db8:0:0:ffff::1]:1", "[2001:db8::2]:3"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
	}
	for _, p := range same {
		if key(p[0]) != key(p[1]) {
			t.Errorf("%s and %s count apart: %s %s", p[0], p[1], key(p[0]), key(p[1]))
		}
	}
	apart := [][2]string{{"[2001:db8::1]:1", "[2001:db8:0:1::1]:1"}, {"192.0.2.1:1", "192.0.2.2:1"}}
	for _, p := range apart {
		if key(p[0]) == key(p[1]) {
			t.Errorf("%s and %s count together", p[0], p[1])
		}
	}
	if k := key("192.0.2.1:1"); k.Bits() != 32 {
		t.Errorf("IPv4 key %s", k)
	}
}

// The connection bounds close connections over them before TLS; a closed
// one gives its place back.
func TestHTTPSConnectionCaps(t *testing.T) {
	dir := newPKI(t)
	c := httpsConfig(t)
	c.MaxConnsPerAddress, c.MaxConns = 2, 3
	s, base := startHTTPS(t, dir, c, HTTPSOptions{Accept: func(context.Context, []byte) (packet.Status, int64, error) {
		return packet.StatusAccepted, 0, nil
	}})
	addr := strings.TrimPrefix(base, "https://")
	m := s.api.m
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	// closed reports whether the sink closed conn unserved.
	closed := func(conn net.Conn) bool {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := conn.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	open := func(n float64) {
		t.Helper()
		waitFor(t, func() bool { return testutil.ToFloat64(m.open) == n })
	}
	a1, a2 := dial("127.0.0.1"), dial("127.0.0.1")
	open(2)
	a3 := dial("127.0.0.1")
	if !closed(a3) || closed(a1) || closed(a2) {
		t.Fatal("third connection from one address not closed (or the first two were)")
	}
	if testutil.ToFloat64(m.refused.WithLabelValues("per-address")) != 1 {
		t.Fatal("per-address refusal not counted")
	}
	b1 := dial("127.0.0.2") // another address, the third in all
	open(3)
	b2 := dial("127.0.0.2")
	if !closed(b2) || closed(b1) || testutil.ToFloat64(m.refused.WithLabelValues("total")) != 1 {
		t.Fatal("fourth connection in all not closed")
	}
	a1.Close()
	open(2)
	// A real client gets the freed place and is served.
	web := httpsClientFor(t, clientTLS(t, dir, "web1"))
	if a := httpsDo(t, web, "GET", base+"/v1/random", nil); a.code != 200 {
		t.Fatalf("after a place was freed: %d", a.code)
	}
}

// Shutdown ends the server's goroutines and closes its connections.
func TestHTTPSShutdownLeaks(t *testing.T) {
	dir := newPKI(t)
	before := runtime.NumGoroutine()
	s, err := NewHTTPSServer(httpsConfig(t), dir, HTTPSOptions{Accept: func(context.Context, []byte) (packet.Status, int64, error) {
		return packet.StatusAccepted, 0, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	base := "https://" + l.Addr().String()
	tr := &http.Transport{TLSClientConfig: clientTLS(t, dir, "web1")}
	c := &http.Client{Transport: tr}
	resp, err := c.Get(base + "/v1/uuid")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	idle, _ := net.Dial("tcp", l.Addr().String()) // never says a word
	defer idle.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s.Shutdown(ctx)
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	tr.CloseIdleConnections()
	idle.Close()
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Other clients than Go's: curl with a client certificate gets random
// bytes, without one nothing; openssl cannot speak TLS 1.2 to the sink.
func TestHTTPSCurlOpenSSL(t *testing.T) {
	dir := newPKI(t)
	curl := testtool.Require(t, "curl")
	openssl := testtool.Require(t, "openssl")
	_, base := startHTTPS(t, dir, httpsConfig(t), HTTPSOptions{})
	p := func(n string) string { return filepath.Join(dir, n) }
	out := filepath.Join(t.TempDir(), "random.bin")
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader("")
		return cmd.CombinedOutput()
	}
	if b, err := run(curl, "-sS", "--fail", "--cert", p("web1.crt"), "--key", p("web1.key"), "--cacert", p("ca.crt"),
		"-o", out, base+"/v1/random"); err != nil {
		t.Fatalf("curl: %v\n%s", err, b)
	}
	if b, _ := os.ReadFile(out); len(b) != 32 {
		t.Fatalf("curl got %d bytes", len(b))
	}
	b, err := run(curl, "-sS", "--fail", "--cert", p("web1.crt"), "--key", p("web1.key"), "--cacert", p("ca.crt"),
		base+"/v1/random?bytes=16&format=hex")
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}\n$`).Match(b) {
		t.Fatalf("curl hex: %v %q", err, b)
	}
	b, err = run(curl, "-sS", "--cert", p("board1.crt"), "--key", p("board1.key"), "--cacert", p("ca.crt"),
		"-w", "%{http_code}", base+"/v1/random")
	if err != nil || !strings.HasSuffix(string(b), "403") || !strings.Contains(string(b), `"status":"forbidden"`) {
		t.Fatalf("curl as board1: %v %q", err, b)
	}
	if b, err := run(curl, "-sS", "--cacert", p("ca.crt"), base+"/v1/random"); err == nil {
		t.Fatalf("curl without a client certificate: %q", b)
	}
	if b, err := run(curl, "-sS", "--cert", p("stranger.crt"), "--key", p("stranger.key"), "--cacert", p("ca.crt"), base+"/v1/random"); err == nil {
		t.Fatalf("curl with another CA's certificate: %q", b)
	}
	if b, err := run(curl, "-sS", "--tlsv1.2", "--tls-max", "1.2", "--cert", p("web1.crt"), "--key", p("web1.key"),
		"--cacert", p("ca.crt"), base+"/v1/random"); err == nil {
		t.Fatalf("curl over TLS 1.2: %q", b)
	}

	host := strings.TrimPrefix(base, "https://")
	b, err = run(openssl, "s_client", "-connect", host, "-tls1_2", "-cert", p("web1.crt"), "-key", p("web1.key"), "-CAfile", p("ca.crt"))
	if err == nil || !strings.Contains(string(b), "alert protocol version") {
		t.Fatalf("openssl s_client -tls1_2: %v\n%s", err, b)
	}
	b, err = run(openssl, "s_client", "-connect", host, "-tls1_3", "-cert", p("web1.crt"), "-key", p("web1.key"), "-CAfile", p("ca.crt"))
	if err != nil || !strings.Contains(string(b), "Verify return code: 0 (ok)") {
		t.Fatalf("openssl s_client -tls1_3: %v\n%s", err, b)
	}
}
