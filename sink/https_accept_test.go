package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bothListeners serves cfg on a TCP listener and, through HTTPSOptions, on
// an HTTPS listener (board1 may push), as entropy-sink does; it returns
// the TCP address and a function that POSTs a payload as board1.
func bothListeners(t *testing.T, cfg *Config, logs *syncBuffer) (*Server, string, func([]byte) (packet.Status, int64)) {
	t.Helper()
	s, addr := start(t, cfg, Options{Logger: textLogger(logs)})
	pki := newPKI(t)
	hc := httpsConfig(t)
	// The sink's clock is stopped: a bucket that never refills.
	hc.Clients = map[string]ClientRights{"board1": {Push: true, RequestBurst: 10000}}
	hc.MaxConnsPerAddress = 64
	_, base := startHTTPS(t, pki, hc, s.HTTPSOptions())
	c := httpsClientFor(t, clientTLS(t, pki, "board1"))
	return s, addr, func(payload []byte) (packet.Status, int64) {
		t.Helper()
		return postPacket(t, c, base, payload)
	}
}

// postPacket POSTs payload to /v1/packet and turns the answer back into
// the status reply it stands for, checking that the HTTP status and the
// JSON agree with PROTOCOL.md's table.
func postPacket(t testing.TB, c *http.Client, base string, payload []byte) (packet.Status, int64) {
	t.Helper()
	a := httpsDo(t, c, "POST", base+"/v1/packet", bytes.NewReader(payload))
	codes := map[string]struct {
		s    packet.Status
		code int
	}{
		"accepted":    {packet.StatusAccepted, 200},
		"unverified":  {packet.StatusUnverified, 403},
		"counter":     {packet.StatusCounter, 409},
		"drift":       {packet.StatusDrift, 422},
		"malformed":   {packet.StatusMalformed, 400},
		"unavailable": {packet.StatusUnavailable, 503},
		"busy":        {packet.StatusBusy, 503},
	}
	want, ok := codes[a.httpsReply.Status]
	if !ok || want.code != a.code {
		t.Fatalf("POST /v1/packet: %d %q", a.code, a.body)
	}
	var v int64
	switch {
	case a.httpsReply.Stored != nil:
		v = *a.httpsReply.Stored
	case a.httpsReply.Now != nil:
		v = *a.httpsReply.Now
	}
	return want.s, v
}

// vectorSink is the original's sink.json with Legacy, a file pool in dir.
func vectorSink(t *testing.T, dir string) *Config {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(vectors.Read(t, "sink.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["Address"] = "127.0.0.1:1"
	m["Legacy"] = true
	m["Pool"] = "file:" + filepath.Join(dir, "pool.bin")
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(privateCopy(t, dir, "sink.json", data))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// POST /v1/packet goes through the TCP listener's acceptance path: the
// original's vectors and protocol 2 frames get the same verdicts, in
// order, from a sink fed over HTTPS as from one fed over TCP, and both
// end with the same counters and pools.
func TestHTTPSPacketSameVerdicts(t *testing.T) {
	k := vectorKeys(t)
	now := epoch
	var otherSink [32]byte
	otherSink[0] = 1
	other, _ := packet.NewRecipient(&otherSink, nil)
	p2 := func(counter int64, ts time.Time) []byte {
		return frame(t, k.signer, packet.Protocol2, k.sinkPublic, counter, ts)
	}
	tampered := p2(20, now)
	tampered[len(tampered)-10] ^= 1
	steps := []struct {
		name  string
		frame []byte
	}{
		{"v1 valid-1", vectors.Read(t, "valid-1.frame")},
		{"v1 valid-1 again", vectors.Read(t, "valid-1.frame")},
		{"v1 valid-3", vectors.Read(t, "valid-3.frame")},
		{"v1 valid-2 after 3", vectors.Read(t, "valid-2.frame")},
		{"v1 wrong recipient", vectors.Read(t, "wrong-recipient.frame")},
		{"v1 unsigned", vectors.Read(t, "unsigned.frame")},
		{"v1 wrong signer", vectors.Read(t, "wrong-signer.frame")},
		{"v1 tampered", vectors.Read(t, "tampered.frame")},
		{"v1 short chunk", vectors.Read(t, "short-chunk.frame")},
		{"v1 not asn1", vectors.Read(t, "not-asn1.frame")},
		{"p2 counter 4", p2(4, now)},
		{"p2 counter 4 again", p2(4, now)},
		{"p2 stale", p2(2, now)},
		{"p2 drift past", p2(5, now.Add(-121*time.Second))},
		{"p2 drift future", p2(5, now.Add(121*time.Second))},
		{"p2 edge of drift", p2(5, now.Add(120*time.Second))},
		{"p2 wrong sink key", frame(t, k.signer, packet.Protocol2, other.Public(), 6, now)},
		{"p2 wrong signer", frame(t, extraSigner(t, 0), packet.Protocol2, k.sinkPublic, 6, now)},
		{"p2 unsigned", unsignedFrame(t, k.sinkPublic, 6, now)},
		{"p2 tampered", tampered},
		{"p2 counter 9", p2(9, now)},
		{"undersize", append(header(packet.MinFrame-1), make([]byte, packet.MinFrame-1)...)},
	}
	tcpDir, httpsDir := t.TempDir(), t.TempDir()
	tcpCfg, httpsCfg := vectorSink(t, tcpDir), vectorSink(t, httpsDir)
	_, tcpAddr := start(t, tcpCfg, Options{})
	_, _, post := bothListeners(t, httpsCfg, &syncBuffer{})
	for _, st := range steps {
		ts, tv := send(t, tcpAddr, st.frame)
		hs, hv := post(st.frame[2:])
		if ts != hs || tv != hv {
			t.Errorf("%s: TCP %s %d, HTTPS %s %d", st.name, ts, tv, hs, hv)
		}
	}
	if a, b := storedCounters(t, tcpCfg), storedCounters(t, httpsCfg); a[DefaultSignerName] != 9 || b[DefaultSignerName] != 9 {
		t.Errorf("counters: TCP %v, HTTPS %v", a, b)
	}
	tp, hp := fileBytes(t, filepath.Join(tcpDir, "pool.bin")), fileBytes(t, filepath.Join(httpsDir, "pool.bin"))
	// valid-1, valid-3, 4, the drift edge and 9; protocol 2 chunks are
	// random, so only the vectors' own chunks compare byte for byte.
	if len(tp) != 5*packet.ChunkSize || len(hp) != len(tp) || !bytes.Equal(tp[:2*packet.ChunkSize], hp[:2*packet.ChunkSize]) {
		t.Errorf("pools: TCP %d bytes, HTTPS %d bytes", len(tp), len(hp))
	}

	// Framing is the one difference: HTTPS has no length header, so a
	// frame whose header promises more than follows (malformed on TCP) is
	// over HTTPS the shorter payload it is, whose box does not open.
	trunc := vectors.Read(t, "truncated.frame")
	if s, _ := send(t, tcpAddr, trunc); s != packet.StatusMalformed {
		t.Errorf("truncated over TCP: %s", s)
	}
	if s, _ := post(trunc[2:]); s != packet.StatusUnverified {
		t.Errorf("truncated over HTTPS: %s", s)
	}
}

// One sink, two listeners, one set of counters: a packet accepted over
// either is a replay over the other, and the metrics and log count both.
func TestHTTPSAndTCPShareCounters(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	logs := &syncBuffer{}
	s, addr, post := bothListeners(t, cfg, logs)
	k := vectorKeys(t)
	f1 := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	f2 := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 2, epoch)
	if st, v := post(f1[2:]); st != packet.StatusAccepted {
		t.Fatalf("over HTTPS: %s %d\n%s", st, v, logs)
	}
	if st, v := send(t, addr, f1); st != packet.StatusCounter || v != 1 {
		t.Fatalf("HTTPS packet replayed over TCP: %s %d", st, v)
	}
	if st, v := send(t, addr, f2); st != packet.StatusAccepted {
		t.Fatalf("over TCP: %s %d", st, v)
	}
	if st, v := post(f2[2:]); st != packet.StatusCounter || v != 2 {
		t.Fatalf("TCP packet replayed over HTTPS: %s %d", st, v)
	}
	if st, v := post(f1[2:]); st != packet.StatusCounter || v != 2 {
		t.Fatalf("HTTPS packet replayed over HTTPS: %s %d", st, v)
	}
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != 2 {
		t.Fatalf("stored counter %d", c)
	}
	if n := len(fileBytes(t, filepath.Join(dir, "pool.bin"))); n != 2*packet.ChunkSize {
		t.Fatalf("pool holds %d bytes", n)
	}
	reg := s.m.reg
	if got := testutil.ToFloat64(s.m.accepted.WithLabelValues(DefaultSignerName)); got != 2 {
		t.Errorf("packets_accepted_total %v", got)
	}
	if got := testutil.ToFloat64(s.m.rejected.WithLabelValues("counter", DefaultSignerName)); got != 3 {
		t.Errorf("counter rejections %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "entropyshare_sink_https_requests_total"); err != nil || n == 0 {
		t.Errorf("the HTTPS metrics are not in the sink's registry: %d %v", n, err)
	}
	out := logs.String()
	for _, want := range []string{"msg=accepted peer=", "transport=https client=board1 protocol=2 signer=default counter=1",
		"msg=rejected peer=", "transport=https client=board1 protocol=2 signer=default counter=2 reason=counter"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// Packets racing over both listeners with the same counters: each counter
// is accepted once, whichever listener carried it.
func TestHTTPSAndTCPRace(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	_, addr, post := bothListeners(t, cfg, &syncBuffer{})
	k := vectorKeys(t)
	const n = 12
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted = map[int64]int{}
	)
	for c := int64(1); c <= n; c++ {
		f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, c, epoch)
		for _, viaHTTPS := range []bool{false, true} {
			wg.Go(func() {
				var st packet.Status
				if viaHTTPS {
					st, _ = post(f[2:])
				} else {
					st, _ = send(t, addr, f)
				}
				if st == packet.StatusAccepted {
					mu.Lock()
					accepted[c]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for c, times := range accepted {
		if times != 1 {
			t.Errorf("counter %d accepted %d times", c, times)
		}
	}
	fed := len(fileBytes(t, filepath.Join(dir, "pool.bin"))) / packet.ChunkSize
	if fed != len(accepted) || fed == 0 {
		t.Errorf("%d chunks fed, %d packets accepted", fed, len(accepted))
	}
}

// Once the sink shuts down, a packet POSTed to a listener still open is
// told to try later, and nothing is checked or stored.
func TestHTTPSAfterShutdown(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, err := New(cfg, Options{now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	accept := s.HTTPSOptions().Accept
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	k := vectorKeys(t)
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	if st, _, err := accept(context.Background(), f[2:]); st != packet.StatusUnavailable || reason(err) != "stopping" {
		t.Fatalf("after shutdown: %s %v", st, err)
	}
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != 0 {
		t.Fatalf("stored counter %d", c)
	}
}

// curl pushes a packet as a source would: the sink accepts it, and the
// same payload again is a replay with the stored counter.
func TestHTTPSPacketCurl(t *testing.T) {
	curl := testtool.Require(t, "curl")
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	s, _ := start(t, cfg, Options{})
	pki := newPKI(t)
	_, base := startHTTPS(t, pki, httpsConfig(t), s.HTTPSOptions())
	k := vectorKeys(t)
	f := frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)
	payload := filepath.Join(dir, "payload")
	if err := os.WriteFile(payload, f[2:], 0o644); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(pki, n) }
	for _, want := range []string{`{"status":"accepted"}` + "\n200", `{"error":"counter not above the stored one","status":"counter","stored":1}` + "\n409"} {
		out, err := exec.Command(curl, "-sS", "--cert", p("board1.crt"), "--key", p("board1.key"), "--cacert", p("ca.crt"),
			"-H", "Content-Type: application/octet-stream", "--data-binary", "@"+payload, "-w", "%{http_code}",
			base+"/v1/packet").CombinedOutput()
		if err != nil || string(out) != want {
			t.Fatalf("curl: %v %q, want %q", err, out, want)
		}
	}
	if c := storedCounters(t, cfg)[DefaultSignerName]; c != 1 {
		t.Fatalf("stored counter %d", c)
	}
}
