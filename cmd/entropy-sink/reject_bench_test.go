package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
	"golang.org/x/crypto/nacl/box"
)

// BenchmarkRejectCPU measures the CPU the real entropy-sink process spends
// per frame it rejects as unverifiable: frames sealed to the sink with a
// signature of the right length for its RSA-3072 signers that verifies for
// none (an attacker's cheapest frame that still reaches RSA: the top byte
// is zero, so the signature is below every modulus and the sink cannot
// refuse it before the exponentiation). "fresh" sends a new frame each
// time, "replay" the same frame over and over; with 1 and 8 configured
// signers, the replay cache on (the default) and off (ReplayCache -1).
// The sink's CPU is the sum of its threads' run time
// (/proc/PID/task/*/schedstat) across the frames: the client's work is not
// in it. One op is one frame; cpu-us/frame is the result. "floor" is the
// same measure of the least a Go server can do per connection (accept,
// read the frame, write a byte, half-close, read to EOF, close: this test
// binary run as such a server), the machine's share of every figure.
func BenchmarkRejectCPU(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		exe, err := os.Executable()
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), floorServerEnv+"=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		var addr string
		if _, err := fmt.Fscanln(out, &addr); err != nil {
			b.Fatalf("floor server: %v", err)
		}
		f := badFrame(b, (*[32]byte)(vectors.Read(b, "sink.pub")), 3072/8, 1)
		for range 20 {
			floorOnce(b, addr, f)
		}
		before := cpuTime(b, cmd.Process.Pid)
		b.ResetTimer()
		for range b.N {
			floorOnce(b, addr, f)
		}
		b.StopTimer()
		used := cpuTime(b, cmd.Process.Pid) - before
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-us/frame")
	})
	bin := buildSink(b)
	keys := rejectSigners(b, 8)
	for _, signers := range []int{1, 8} {
		for _, cache := range []string{"on", "off"} {
			for _, kind := range []string{"fresh", "replay"} {
				b.Run(fmt.Sprintf("signers=%d/cache=%s/%s", signers, cache, kind), func(b *testing.B) {
					dir := b.TempDir()
					cfg := rejectConfig(b, dir, keys[:signers], cache == "on")
					cmd, addr, _ := startSink(b, bin, cfg)
					defer func() {
						cmd.Process.Signal(os.Interrupt)
						cmd.Wait()
					}()
					pub := (*[32]byte)(vectors.Read(b, "sink.pub"))
					n := b.N
					frames := make([][]byte, 1)
					if kind == "fresh" {
						frames = make([][]byte, n)
					}
					for i := range frames {
						frames[i] = badFrame(b, pub, 3072/8, int64(i+1))
					}
					// Warm up: the first connections grow the runtime's
					// pools and, for replay, put the frame in the cache.
					for range 20 {
						rejectOnce(b, addr, badFrame(b, pub, 3072/8, 0))
					}
					rejectOnce(b, addr, frames[0])
					pid := cmd.Process.Pid
					before := cpuTime(b, pid)
					b.ResetTimer()
					for i := range n {
						rejectOnce(b, addr, frames[i%len(frames)])
					}
					b.StopTimer()
					used := cpuTime(b, pid) - before
					b.ReportMetric(float64(used.Microseconds())/float64(n), "cpu-us/frame")
				})
			}
		}
	}
}

func buildSink(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "entropy-sink")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// rejectSigners makes n RSA-3072 keys, the source side's default size.
func rejectSigners(b *testing.B, n int) []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, n)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 3072)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
}

// rejectConfig writes a configuration for the original's sink key with
// signers (the first as Signer, the rest in Signers).
func rejectConfig(b *testing.B, dir string, signers []*rsa.PrivateKey, cache bool) string {
	p := writeConfig(b, dir, "json")
	c, err := sink.LoadConfig(p)
	if err != nil {
		b.Fatal(err)
	}
	der := func(k *rsa.PrivateKey) []byte {
		d, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	c.Signer = der(signers[0])
	for i, k := range signers[1:] {
		c.Signers = append(c.Signers, sink.SignerConfig{Name: fmt.Sprintf("s%d", i+1), Signer: der(k)})
	}
	data, err := c.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	if !cache {
		var m map[string]json.RawMessage
		json.Unmarshal(data, &m)
		m["ReplayCache"] = json.RawMessage("-1")
		data, _ = json.Marshal(m)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// badFrame seals to pub a packet whose signature (sigLen bytes, random,
// the first zero) verifies for no key.
func badFrame(b testing.TB, pub *[32]byte, sigLen int, counter int64) []byte {
	var chunk [packet.ChunkSize]byte
	rand.Read(chunk[:])
	msg, err := asn1.Marshal(struct {
		Timestamp, Counter int64
		Chunk              []byte
	}{time.Now().Unix(), counter, chunk[:]})
	if err != nil {
		b.Fatal(err)
	}
	sig := make([]byte, sigLen)
	rand.Read(sig[1:])
	signed, err := asn1.Marshal(struct{ Message, Signature []byte }{msg, sig})
	if err != nil {
		b.Fatal(err)
	}
	var nonce [24]byte
	rand.Read(nonce[:])
	ephPub, ephPriv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	payload := append(append(ephPub[:], nonce[:]...), box.Seal(nil, signed, &nonce, pub, ephPriv)...)
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

// rejectOnce sends f and wants it rejected as unverifiable.
func rejectOnce(b *testing.B, addr string, f []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(f); err != nil {
		b.Fatal(err)
	}
	st, _, err := packet.ReadStatus(c)
	if err != nil {
		b.Fatal(err)
	}
	if st != packet.StatusUnverified {
		b.Fatalf("status %s, want %s", st, packet.StatusUnverified)
	}
}

// cpuTime sums the time pid's threads have run.
func cpuTime(b *testing.B, pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // a thread that ended meanwhile
		}
		ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		sum += time.Duration(ns)
	}
	return sum
}

// floorServerEnv makes this test binary the floor server of
// BenchmarkRejectCPU: it prints its address and serves until killed.
const floorServerEnv = "ENTROPYSHARE_BENCH_FLOOR_SERVER"

func init() {
	if os.Getenv(floorServerEnv) == "" {
		return
	}
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := packet.ReadFrame(c, packet.DefaultMaxFrame); err != nil {
				return
			}
			c.Write([]byte{byte(packet.StatusUnverified)})
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		}()
	}
}

func floorOnce(b *testing.B, addr string, f []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(f)
	if st, _, err := packet.ReadStatus(c); err != nil || st != packet.StatusUnverified {
		b.Fatalf("floor server: %s %v", st, err)
	}
}
