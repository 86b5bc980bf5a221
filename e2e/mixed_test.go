//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/packet"
)

// originalSink stands in for an original entropyshare sink: it reads one
// frame per connection, opens it, and closes without a reply.
type originalSink struct {
	addr string
	mu   sync.Mutex
	got  []*packet.Opened
	errs []error
}

func startOriginalSink(t *testing.T, private *[32]byte, signer *signer) *originalSink {
	t.Helper()
	r, err := packet.NewRecipient(private, []packet.Signer{{Key: &signer.priv.PublicKey, Legacy: true}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	o := &originalSink{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			payload, err := packet.ReadFrame(c, 0)
			var op *packet.Opened
			if err == nil {
				op, err = r.Open(payload)
			}
			c.Close()
			o.mu.Lock()
			if err != nil {
				o.errs = append(o.errs, err)
			} else {
				o.got = append(o.got, op)
			}
			o.mu.Unlock()
		}
	}()
	return o
}

// TestMixedPeers: one source run feeds a legacy-enabled sink over protocol
// 1, a protocol 2 sink, a sink that also knows a legacy signer, and an
// original sink that never replies; a second, legacy source feeds the
// shared sink over protocol 1. Protocol 1 is refused where it is not
// allowed, and the original implementation's own frames are accepted by a
// legacy sink running from the original's own configuration file.
func TestMixedPeers(t *testing.T) {
	const rounds = 3
	dir := t.TempDir()
	a := newSigner(t, dir, "signerA")
	old := newSigner(t, dir, "signerOld")

	kP1, kP2, kM, kO := newSinkKeys(t, dir, "p1"), newSinkKeys(t, dir, "p2"), newSinkKeys(t, dir, "mixed"), newSinkKeys(t, dir, "orig")
	addrP1, addrP2, addrM := testtool.FreeAddr(t), testtool.FreeAddr(t), testtool.FreeAddr(t)
	cfgP1, poolP1 := writeSinkConfig(t, dir, "p1", addrP1, kP1, a, sinkOpts{Legacy: true})
	cfgP2, poolP2 := writeSinkConfig(t, dir, "p2", addrP2, kP2, a, sinkOpts{})
	cfgM, poolM := writeSinkConfig(t, dir, "mixed", addrM, kM, a, sinkOpts{Extra: []extraSigner{{Name: "old", S: old, Legacy: true}}})
	p1 := startSink(t, "", cfgP1, poolP1, addrP1)
	p2 := startSink(t, "", cfgP2, poolP2, addrP2)
	m := startSink(t, "", cfgM, poolM, addrM)
	oPriv, err := keys.LoadCurve25519Private(kO.Key)
	if err != nil {
		t.Fatal(err)
	}
	orig := startOriginalSink(t, oPriv, a)

	targetsA := filepath.Join(dir, "targetsA.json")
	addTarget(t, targetsA, addrP1, kP1, "p1", "--protocol", "1")
	addTarget(t, targetsA, addrP2, kP2, "p2")
	addTarget(t, targetsA, addrM, kM, "mixed")
	addTarget(t, targetsA, orig.addr, kO, "original", "--protocol", "1")
	targetsOld := filepath.Join(dir, "targetsOld.json")
	addTarget(t, targetsOld, addrM, kM, "mixed-old", "--protocol", "1")

	for round := 1; round <= rounds; round++ {
		makeDue(t, targetsA)
		makeDue(t, targetsOld)
		if r := runSource(t, "", a, targetsA, filepath.Join(dir, "seedA")); r.code != 0 || strings.Count(r.out, "delivered") != 4 {
			t.Fatalf("round %d, source A: exit %d, want 0 and 4 deliveries:\n%s", round, r.code, r.out)
		}
		if r := runSource(t, "", old, targetsOld, filepath.Join(dir, "seedOld")); r.code != 0 || strings.Count(r.out, "delivered") != 1 {
			t.Fatalf("round %d, legacy source: exit %d:\n%s", round, r.code, r.out)
		}
	}

	// What each sink saw, by protocol and signer.
	protocols := func(s *sinkProc) map[string]int {
		out := map[string]int{}
		for _, f := range s.logLines("accepted") {
			out[f["signer"]+"/p"+f["protocol"]]++
		}
		return out
	}
	want := map[*sinkProc]map[string]int{
		p1: {"default/p1": rounds},
		p2: {"default/p2": rounds},
		m:  {"default/p2": rounds, "old/p1": rounds},
	}
	for s, w := range want {
		got := protocols(s)
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("sink %s accepted %v, want %v", s.addr, got, w)
		}
	}
	orig.mu.Lock()
	if len(orig.got) != rounds || len(orig.errs) != 0 {
		t.Errorf("original sink: %d packets, errors %v; want %d packets", len(orig.got), orig.errs, rounds)
	}
	for _, op := range orig.got {
		if op.Protocol != packet.Protocol1 {
			t.Errorf("original sink got a protocol %d packet", op.Protocol)
		}
	}
	orig.mu.Unlock()
	cm, err := sinkCounters(cfgM)
	if err != nil {
		t.Fatal(err)
	}
	if cm["default"] != rounds || cm["old"] != rounds {
		t.Errorf("mixed sink counters %v, want default and old at %d", cm, rounds)
	}

	// Protocol 1 where it is not allowed: refused, nothing moves.
	refused := 0
	for _, c := range []struct {
		s   *sinkProc
		k   *sinkKeys
		cfg string
	}{{p2, kP2, cfgP2}, {m, kM, cfgM}} {
		before, _ := sinkCounters(c.cfg)
		size := fileSize(c.s.pool)
		frame := sealFrame(t, a, packet.Protocol1, c.k.public, 1000, markedChunk(0, 1000))
		if st, _ := sendFrame(c.s.addr, frame, 5*time.Second); st != int(packet.StatusUnverified) {
			t.Errorf("protocol 1 from a non-legacy signer to %s: status %d, want 0x01", c.s.addr, st)
		} else {
			refused++
		}
		after, _ := sinkCounters(c.cfg)
		if fmt.Sprint(before) != fmt.Sprint(after) || fileSize(c.s.pool) != size {
			t.Errorf("a refused frame moved %s: counters %v -> %v, pool %d -> %d", c.s.addr, before, after, size, fileSize(c.s.pool))
		}
	}
	for _, s := range []*sinkProc{p1, p2, m} {
		if code := s.term(); code != 0 {
			t.Errorf("sink %s exit %d on SIGTERM", s.addr, code)
		}
	}

	vec := originalVectors(t, dir)

	result(t, "%d rounds: source A delivered protocol 1 to a legacy sink (%v), protocol 2 to a current sink (%v) and to a shared sink, "+
		"protocol 1 to an original sink without replies (%d packets); a legacy source fed the shared sink over protocol 1 (shared sink %v, counters %v); "+
		"%d/2 protocol 1 frames from a non-legacy signer refused 0x01 with nothing moved; original vectors: %s",
		rounds, protocols(p1), protocols(p2), len(orig.got), protocols(m), cm, refused, vec)
}

// originalVectors runs a legacy sink from the original's own sink.json and
// feeds it the original's frames.
func originalVectors(t *testing.T, dir string) string {
	t.Helper()
	// The original implementation's vectors, as the repository keeps them.
	data := vectors.Read(t, "sink.json")
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	addr := testtool.FreeAddr(t)
	pool := filepath.Join(dir, "vectors.pool")
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		cfg[k] = b
	}
	set("Address", addr)
	set("Legacy", true)
	set("Pool", "file:"+pool)
	// The frames are from 2023: a window wide enough to take them.
	set("Drift", time.Since(time.Unix(1700000000, 0))/time.Second+86400)
	out, _ := json.MarshalIndent(cfg, "", "\t")
	path := filepath.Join(dir, "vectors-sink.json")
	writeAtomic(t, path, out, 0o600)
	s := startSink(t, "", path, pool, addr)

	var got []string
	for _, f := range []struct {
		file string
		want packet.Status
	}{
		{"valid-1.frame", packet.StatusAccepted},
		{"valid-1.frame", packet.StatusCounter},
		{"wrong-signer.frame", packet.StatusUnverified},
		{"wrong-recipient.frame", packet.StatusUnverified},
		{"unsigned.frame", packet.StatusUnverified},
		{"valid-2.frame", packet.StatusAccepted},
		{"valid-3.frame", packet.StatusAccepted},
	} {
		st, _ := sendFrame(addr, vectors.Read(t, f.file), 5*time.Second)
		if st != int(f.want) {
			t.Errorf("original %s: status %d, want %d", f.file, st, f.want)
		}
		got = append(got, fmt.Sprintf("%s=%#x", strings.TrimSuffix(f.file, ".frame"), st))
	}
	c, err := sinkCounters(path)
	if err != nil {
		t.Fatal(err)
	}
	if c["default"] != 3 || fileSize(pool) != 3*1024 {
		t.Errorf("after the original frames: counter %d, pool %d bytes; want 3 and 3072", c["default"], fileSize(pool))
	}
	if code := s.term(); code != 0 {
		t.Errorf("vectors sink: exit %d on SIGTERM", code)
	}
	return fmt.Sprintf("%s; counter %d, pool %d B", strings.Join(got, " "), c["default"], fileSize(pool))
}
