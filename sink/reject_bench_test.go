package sink

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/sys/unix"
)

// BenchmarkRejectCost splits what the sink spends on one unverifiable
// frame's payload (Server.check, no connection) into its parts, with
// RSA-3072 signers, in CPU time of the benchmark's thread (cpu-us/op):
//
//	box-fail       a payload that does not open: X25519 + Poly1305
//	signers=N      a payload that opens, with a signature of the right
//	               size that no signer verifies (the first byte zero, so
//	               below every modulus): box, then N RSA verifications
//	signers=1-hint the same with the legacy hint's extra verification
//	               (what every such frame cost before the hint limiter)
//	replay         the same payload again: SHA-256 and a lookup
func BenchmarkRejectCost(b *testing.B) {
	keys := rsa3072Keys(b, 8)
	k := vectorKeys(b)
	bad := badSignaturePayload(b, k.sinkPublic, 384)
	garbage := make([]byte, len(bad))
	rand.Read(garbage)
	server := func(b *testing.B, signers int, cache bool) *Server {
		cfg := testConfig(b, b.TempDir(), func(c *Config) {
			c.Signer = pkix(b, keys[0])
			for i := 1; i < signers; i++ {
				c.Signers = append(c.Signers, SignerConfig{Name: fmt.Sprint("s", i), Signer: pkix(b, keys[i])})
			}
			if !cache {
				c.ReplayCache = -1
			}
		})
		s, err := New(cfg, Options{pool: &recordingPool{}, now: func() time.Time { return epoch }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Shutdown(b.Context()) })
		return s
	}
	run := func(b *testing.B, s *Server, payload func() []byte, hint bool) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		for b.Loop() {
			var err error
			if hint {
				_, _, err = s.current().k.check(payload(), epoch, 120, nil)
			} else {
				_, _, err = s.check(s.current(), payload())
			}
			if err == nil {
				b.Fatal("accepted")
			}
		}
		b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
	}
	fresh := func(p []byte) func() []byte { return func() []byte { return p } }
	b.Run("box-fail", func(b *testing.B) { run(b, server(b, 1, false), fresh(garbage), false) })
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("signers=%d", n), func(b *testing.B) { run(b, server(b, n, false), fresh(bad), false) })
	}
	b.Run("signers=1-hint", func(b *testing.B) { run(b, server(b, 1, false), fresh(bad), true) })
	b.Run("replay", func(b *testing.B) {
		s := server(b, 1, true)
		s.check(s.current(), bad)
		run(b, s, fresh(bad), false)
	})
}

var rsa3072 struct {
	sync.Mutex
	keys []*rsa.PrivateKey
}

func rsa3072Keys(b *testing.B, n int) []*rsa.PrivateKey {
	rsa3072.Lock()
	defer rsa3072.Unlock()
	for len(rsa3072.keys) < n {
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			b.Fatal(err)
		}
		rsa3072.keys = append(rsa3072.keys, k)
	}
	return rsa3072.keys[:n]
}

// badSignaturePayload seals to pub a packet whose signature (sigLen
// bytes, random, the first zero) verifies for no key.
func badSignaturePayload(b *testing.B, pub *[packet.KeySize]byte, sigLen int) []byte {
	var chunk [packet.ChunkSize]byte
	rand.Read(chunk[:])
	msg, _ := asn1.Marshal(struct {
		Timestamp, Counter int64
		Chunk              []byte
	}{epoch.Unix(), 1, chunk[:]})
	sig := make([]byte, sigLen)
	rand.Read(sig[1:])
	signed, _ := asn1.Marshal(struct{ Message, Signature []byte }{msg, sig})
	var nonce [packet.NonceSize]byte
	rand.Read(nonce[:])
	ephPub, ephPriv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return append(append(ephPub[:], nonce[:]...), box.Seal(nil, signed, &nonce, pub, ephPriv)...)
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
