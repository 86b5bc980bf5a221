package sink

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"golang.org/x/crypto/nacl/box"
)

// epoch is the timestamp of the original's first valid frame; tests run
// their sinks on a clock stopped there.
var epoch = time.Unix(1700000000, 0)

// privateCopy writes data to a new 0600 file: git keeps no modes, and
// LoadConfig refuses anything more open.
func privateCopy(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyring holds the test's keys: the original's sink key pair and signer,
// and further RSA-2048 signers made once per test binary.
type keyring struct {
	sinkPrivate []byte
	sinkPublic  *[packet.KeySize]byte
	signer      *rsa.PrivateKey // the original's signer.key
}

func vectorKeys(t testing.TB) *keyring {
	t.Helper()
	k := &keyring{sinkPrivate: vectors.Read(t, "sink.key")}
	k.sinkPublic = (*[packet.KeySize]byte)(vectors.Read(t, "sink.pub"))
	var err error
	if k.signer, err = x509.ParsePKCS1PrivateKey(vectors.Read(t, "signer.key")); err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	extraMu      sync.Mutex
	extraSigners []*rsa.PrivateKey
)

// extraSigner returns the i-th additional RSA-2048 signer.
func extraSigner(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	extraMu.Lock()
	defer extraMu.Unlock()
	for len(extraSigners) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		extraSigners = append(extraSigners, k)
	}
	return extraSigners[i]
}

func pkix(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// testConfig is a configuration for the original's keys with a file pool,
// written to dir/sink.json (0600) and loaded back.
func testConfig(t testing.TB, dir string, edit func(*Config)) *Config {
	t.Helper()
	keys := vectorKeys(t)
	c := &Config{
		Address: "127.0.0.1:4141", // not listened on: tests serve their own listeners
		Signer:  pkix(t, keys.signer),
		Private: keys.sinkPrivate,
		Drift:   120,
		Pool:    "file:" + filepath.Join(dir, "pool.bin"),
	}
	if edit != nil {
		edit(c)
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := privateCopy(t, dir, "sink.json", data)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// frame seals a packet with the given counter and timestamp and returns
// the whole frame. The chunk is random.
func frame(t testing.TB, key *rsa.PrivateKey, proto packet.Protocol, to *[packet.KeySize]byte, counter int64, ts time.Time) []byte {
	t.Helper()
	p := &packet.Packet{Timestamp: ts.Unix(), Counter: counter}
	rand.Read(p.Chunk[:])
	payload, err := packet.Seal(rand.Reader, p, proto, key, to)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

// chunkOf opens a frame made by frame (for checking what was fed).
func chunkOf(t testing.TB, f []byte) []byte {
	t.Helper()
	var priv [32]byte
	copy(priv[:], vectors.Read(t, "sink.key"))
	var eph [32]byte
	var nonce [24]byte
	copy(eph[:], f[2:])
	copy(nonce[:], f[2+32:])
	signed, ok := box.Open(nil, f[2+32+24:], &nonce, &eph, &priv)
	if !ok {
		t.Fatal("box does not open")
	}
	var w struct{ Message, Signature []byte }
	if _, err := asn1.Unmarshal(signed, &w); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Timestamp, Counter int64
		Chunk              []byte
	}
	if _, err := asn1.Unmarshal(w.Message, &p); err != nil {
		t.Fatal(err)
	}
	return p.Chunk
}

// unsignedFrame seals a valid packet with an empty signature.
func unsignedFrame(t testing.TB, to *[packet.KeySize]byte, counter int64, ts time.Time) []byte {
	t.Helper()
	p := &packet.Packet{Timestamp: ts.Unix(), Counter: counter}
	der, _ := asn1.Marshal(struct {
		Timestamp, Counter int64
		Chunk              []byte
	}{p.Timestamp, p.Counter, p.Chunk[:]})
	signed, _ := asn1.Marshal(struct{ Message, Signature []byte }{der, nil})
	ephPub, ephPriv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [24]byte
	rand.Read(nonce[:])
	payload := append(append(ephPub[:], nonce[:]...), box.Seal(nil, signed, &nonce, to, ephPriv)...)
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

// recordingPool keeps every chunk fed.
type recordingPool struct {
	mu     sync.Mutex
	chunks [][]byte
}

func (p *recordingPool) Close() error { return nil }

func (p *recordingPool) Feed(chunk []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chunks = append(p.chunks, slices.Clone(chunk))
	return 0, nil
}

func (p *recordingPool) all() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.chunks)
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// start serves cfg on 127.0.0.1 and shuts it down at cleanup.
func start(t testing.TB, cfg *Config, opts Options) (*Server, string) {
	t.Helper()
	if opts.now == nil {
		opts.now = func() time.Time { return epoch }
	}
	s, err := New(cfg, opts)
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
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s, l.Addr().String()
}

// send writes raw bytes on a new connection, half-closes, and reads the
// status reply.
func send(t testing.TB, addr string, data []byte) (packet.Status, int64) {
	t.Helper()
	s, v, err := trySend(addr, data)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return s, v
}

func trySend(addr string, data []byte) (packet.Status, int64, error) {
	return trySendFrom("", addr, data)
}

// sendFrom sends data from the loopback address from (127.0.0.x: Linux
// routes all of 127/8 to lo), which counts against its own per-address
// bound.
func sendFrom(t testing.TB, from, addr string, data []byte) (packet.Status, int64) {
	t.Helper()
	s, v, err := trySendFrom(from, addr, data)
	if err != nil {
		t.Fatalf("send from %s: %v", from, err)
	}
	return s, v
}

func trySendFrom(from, addr string, data []byte) (packet.Status, int64, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(data); err != nil {
		return 0, 0, err
	}
	c.(*net.TCPConn).CloseWrite()
	return packet.ReadStatus(c)
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

func header(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }

// storedCounters reads cfg's stored counters by signer name, as
// entropy-sink status does.
func storedCounters(t testing.TB, cfg *Config) map[string]int64 {
	t.Helper()
	st, err := Status(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, s := range st {
		if s.Name != "" {
			out[s.Name] = s.Counter
		}
	}
	return out
}

// onWrite wraps the committer's state writes with before, which runs
// first and may fail the write.
func onWrite(before func() error) func(func([]entry) error) func([]entry) error {
	return func(write func([]entry) error) func([]entry) error {
		return func(es []entry) error {
			if err := before(); err != nil {
				return err
			}
			return write(es)
		}
	}
}
