//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHTTPSWire: the IP bytes of one delivery, counted by nftables on the
// source's host with no loss: to a TCP sink, and to an HTTPS sink with a
// full TLS handshake (no stored session) and a resumed one. The figures of
// docs/BOARD.md.
func TestHTTPSWire(t *testing.T) {
	l := newLAN(t, 3)
	dir := t.TempDir()
	sg := newSigner(t, dir, "signer")
	pki := newTLSPKI(t, dir)
	targets := filepath.Join(dir, "targets.json")
	for i, name := range []string{"", "tcp", "https"} {
		if i == 0 {
			continue
		}
		k := newSinkKeys(t, dir, name)
		addr := l.addrs[i] + ":4141"
		o := sinkOpts{}
		target := addr
		if name == "https" {
			o.HTTPS = pki.sinkHTTPS(t, name, l.addrs[i], 8443)
			target = "https://" + o.HTTPS.Address
		}
		cfg, pool := writeSinkConfig(t, dir, name, addr, k, sg, o)
		startSink(t, l.hosts[i], cfg, pool, addr)
		addTarget(t, targets, target, k, name)
	}
	l.countPeers(t, 0, l.addrs[1:])
	seed := filepath.Join(dir, "seed")
	const runs = 6
	var tcp, full, resumed int64
	nFull, nResumed := 0, 0
	for run := 1; run <= runs; run++ {
		if run == runs {
			// A lost sessions file: a full handshake again.
			os.Remove(targets + ".tls-sessions")
		}
		makeDue(t, targets)
		before := l.peerBytes(t, 0)
		r := runSource(t, l.hosts[0], sg, targets, seed, pki.sourceFlags()...)
		if r.code != 0 || strings.Count(r.out, ": delivered") != 2 {
			t.Fatalf("run %d: exit %d\n%s", run, r.code, r.out)
		}
		after := l.peerBytes(t, 0)
		tcp += after[l.addrs[1]] - before[l.addrs[1]]
		n := after[l.addrs[2]] - before[l.addrs[2]]
		if strings.Contains(r.out, "TLS resumed") {
			resumed += n
			nResumed++
		} else {
			full += n
			nFull++
		}
	}
	if nFull != 2 || nResumed != runs-2 {
		t.Fatalf("%d full handshakes and %d resumed, want 2 and %d", nFull, nResumed, runs-2)
	}
	tcp, full, resumed = tcp/runs, full/int64(nFull), resumed/int64(nResumed)
	if full-resumed < 800 {
		t.Errorf("resumption saved %d bytes", full-resumed)
	}
	result(t, "IP bytes per delivery, both ways, RSA-2048 signer, no loss: TCP %d, HTTPS %d with a full TLS handshake, %d resumed "+
		"(%.2f, %.2f and %.2f wire bytes per entropy byte)", tcp, full, resumed,
		float64(tcp)/1024, float64(full)/1024, float64(resumed)/1024)
}
