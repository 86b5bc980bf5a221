package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

func run(t *testing.T, e env, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Execute(newCommand(e), args, &out, &errb)
	return code, out.String(), errb.String()
}

// originalConfig copies the original's sink.json, as it is, to a 0600 file.
func originalConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "sink.json")
	if err := os.WriteFile(p, vectors.Read(t, "sink.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The original's vectors through decode, line by line.
func TestDecodeVectors(t *testing.T) {
	cfg := originalConfig(t)
	names := []string{"valid-1.frame", "valid-2.frame", "valid-3.frame", "wrong-recipient.frame", "unsigned.frame",
		"wrong-signer.frame", "tampered.frame", "short-chunk.frame", "not-asn1.frame", "truncated.frame", "valid-1.frame"}
	var args []string
	for _, n := range names {
		args = append(args, vectors.Path(t, n))
	}
	p := func(n string) string { return vectors.Path(t, n) }
	want := p("valid-1.frame") + ": accepted protocol=1 counter=1 timestamp=1700000000 chunk=4cdcafb732ca6cf1e491c6f0efdc3a2ff18c1e7f93e89e0b7a4592187399007f\n" +
		p("valid-2.frame") + ": accepted protocol=1 counter=2 timestamp=1700000060 chunk=b89d83245f53da84c9245c296d6f360a99b308acc4d2275329c15f7c4e93fd6b\n" +
		p("valid-3.frame") + ": accepted protocol=1 counter=3 timestamp=1700000120 chunk=9fbd82803aced231c70021317b40852633e4389ed831956dc307987788292fb0\n" +
		p("wrong-recipient.frame") + ": rejected reason=decrypt\n" +
		p("unsigned.frame") + ": rejected reason=unsigned\n" +
		p("wrong-signer.frame") + ": rejected reason=signature\n" +
		p("tampered.frame") + ": rejected reason=decrypt\n" +
		p("short-chunk.frame") + ": rejected reason=chunk-size\n" +
		p("not-asn1.frame") + ": rejected reason=malformed\n" +
		p("truncated.frame") + ": rejected reason=frame-size\n" +
		p("valid-1.frame") + ": rejected reason=counter\n"
	code, out, stderr := run(t, defaultEnv(), append([]string{"decode", "-f", cfg, "--at", "1700000060", "--legacy"}, args...)...)
	if code != 0 || out != want {
		t.Fatalf("exit %d\n%s\nwant\n%s\nstderr:\n%s", code, out, want, stderr)
	}
	before := vectors.Read(t, "sink.json")
	if after, _ := os.ReadFile(cfg); !bytes.Equal(after, before) {
		t.Fatal("decode changed the configuration")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "sink.state")); !os.IsNotExist(err) {
		t.Fatalf("decode made a state file: %v", err)
	}

	// The original file as it is does not accept protocol 1: say why.
	code, out, stderr = run(t, defaultEnv(), "decode", "-f", cfg, "--at", "1700000060", p("valid-1.frame"))
	if code != 0 || out != p("valid-1.frame")+": rejected reason=signature\n" || !strings.Contains(stderr, "hint:") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	// Drift, judged against --at.
	code, out, _ = run(t, defaultEnv(), "decode", "-f", cfg, "--legacy", "--at", "1700000300", p("valid-1.frame"))
	if code != 0 || out != p("valid-1.frame")+": rejected reason=drift\n" {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestDecodeErrors(t *testing.T) {
	cfg := originalConfig(t)
	// A frame file that cannot be read: exit 1, the others still judged.
	code, out, stderr := run(t, defaultEnv(), "decode", "-f", cfg, "--legacy", "--at", "1700000000",
		"/nonexistent.frame", vectors.Path(t, "valid-1.frame"))
	if code != 1 || !strings.Contains(out, "accepted") || !strings.Contains(stderr, "nonexistent.frame") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	// Configuration errors: exit 2, naming the file and the fix.
	open := filepath.Join(t.TempDir(), "sink.json")
	os.WriteFile(open, vectors.Read(t, "sink.json"), 0o644)
	os.Chmod(open, 0o644)
	code, _, stderr = run(t, defaultEnv(), "decode", "-f", open, "x.frame")
	if code != 2 || !strings.Contains(stderr, "chmod 600 "+open) || !strings.Contains(stderr, "hint:") {
		t.Fatalf("0644 config: exit %d: %s", code, stderr)
	}
	bad := filepath.Join(t.TempDir(), "sink.json")
	os.WriteFile(bad, []byte(`{"Address": ":1", "Private": "AAAA", "Signer": "AAAA"}`), 0o600)
	code, _, stderr = run(t, defaultEnv(), "decode", "-f", bad, "x.frame")
	if code != 2 || !strings.Contains(stderr, bad+": Private: key is 3 bytes") {
		t.Fatalf("bad config: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, defaultEnv(), "-f", bad)
	if code != 2 {
		t.Fatalf("server with bad config: exit %d: %s", code, stderr)
	}
	if code, _, _ := run(t, defaultEnv(), "decode", "-f", cfg); code != 2 {
		t.Fatalf("decode without frames: exit %d", code)
	}
	if code, _, _ := run(t, defaultEnv(), "-f", cfg, "--log-format", "xml"); code != 2 {
		t.Fatalf("bad log format: exit %d", code)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"decode", "--help"}, {"status", "--help"}, {"check", "--help"}} {
		code, out, _ := run(t, defaultEnv(), args...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit status:") {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// writeConfig writes a configuration for the original's keys that listens
// on a free port and feeds a file pool.
func writeConfig(t testing.TB, dir string, format string) string {
	c, err := sink.ParseConfig(vectors.Read(t, "sink.json"))
	if err != nil {
		t.Fatal(err)
	}
	c.Address = testtool.FreeAddr(t) // in-process tests listen on port 0 instead (localListen)
	c.Drift = 1 << 40                // the test frames carry real time; the vectors do not matter here
	c.Pool = "file:" + filepath.Join(dir, "pool.bin")
	data, _ := c.Marshal()
	p := filepath.Join(dir, "sink.json")
	os.WriteFile(p, data, 0o600)
	return p
}

func sealFrame(t testing.TB, counter int64) []byte {
	k, err := x509.ParsePKCS1PrivateKey(vectors.Read(t, "signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	p := &packet.Packet{Timestamp: time.Now().Unix(), Counter: counter}
	rand.Read(p.Chunk[:])
	payload, err := packet.Seal(rand.Reader, p, packet.Protocol2, k, (*[32]byte)(vectors.Read(t, "sink.pub")))
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

func sendFrame(t testing.TB, addr string, f []byte) packet.Status {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(f)
	st, _, err := packet.ReadStatus(c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The server command: serve, accept a frame, expose metrics, stop on the
// stop signal with exit 0.
func TestServe(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, format)
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan [2]net.Addr, 1)
			e := env{
				stopContext: func() (context.Context, context.CancelFunc) { return ctx, cancel },
				ready:       func(a, m net.Addr) { ready <- [2]net.Addr{a, m} },
				listen:      localListen,
			}
			var out bytes.Buffer
			errb := &lockedBuffer{}
			done := make(chan int, 1)
			go func() {
				done <- cli.Execute(newCommand(e), []string{"-f", cfg, "--log-format", format, "--metrics", "127.0.0.1:9438"}, &out, errb)
			}()
			var addrs [2]net.Addr
			select {
			case addrs = <-ready:
			case code := <-done:
				t.Fatalf("exited %d: %s", code, errb)
			}
			if st := sendFrame(t, addrs[0].String(), sealFrame(t, 1)); st != packet.StatusAccepted {
				t.Fatalf("frame: %s\n%s", st, errb)
			}
			resp, err := http.Get("http://" + addrs[1].String() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `entropyshare_sink_packets_accepted_total{signer="default"} 1`) {
				t.Fatalf("metrics:\n%s", body)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("exit %d: %s", code, errb)
			}
			if st, _ := os.ReadFile(filepath.Join(dir, "pool.bin")); len(st) != 1024 {
				t.Fatalf("pool holds %d bytes", len(st))
			}
			logs := errb.String()
			if format == "json" {
				for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Fatalf("not JSON: %s", line)
					}
				}
			}
			if !strings.Contains(logs, "accepted") || !strings.Contains(logs, "stopped") {
				t.Fatalf("logs:\n%s", logs)
			}
		})
	}
}

// localListen is env.listen for in-process sinks: a free port of
// 127.0.0.1, whatever the configuration or --metrics says.
func localListen(network, _ string) (net.Listener, error) {
	return net.Listen(network, "127.0.0.1:0")
}

type lockedBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func (b *lockedBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.b.String()
}

// The real binary stops on SIGTERM with exit 0.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "entropy-sink")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := writeConfig(t, dir, "json")
	cmd := exec.Command(bin, "-f", cfg, "--log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	dec := json.NewDecoder(stderr)
	var addr string
	for addr == "" {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("reading the log: %v", err)
		}
		if m["msg"] == "listening" {
			addr, _ = m["address"].(string)
		}
	}
	if st := sendFrame(t, addr, sealFrame(t, 1)); st != packet.StatusAccepted {
		t.Fatalf("frame: %s", st)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	go io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
}
