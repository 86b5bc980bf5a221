//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// TestFlood: garbage, half-open and slow connections by the thousand against
// a sink on loopback while 100 real source runs deliver to it. All 100 must
// be accepted, the sink must stay up and its memory bounded. The flood
// comes from 64 loopback addresses other than the source's (one address
// holds at most 8 connections: see TestAttackHolders for what one that
// tries to hold more gets).
func TestFlood(t *testing.T) {
	const (
		deliveries = 100
		halfOpen   = 150 // held at once; the sink's MaxConns is 256
		slow       = 50
		garbageers = 6
		minAttack  = 15 * time.Second
		maxRSSKB   = 256 << 10 // bound asserted on VmHWM
	)
	dir := t.TempDir()
	sg := newSigner(t, dir, "signer")
	k := newSinkKeys(t, dir, "sink")
	addr := testtool.FreeAddr(t)
	cfg, pool := writeSinkConfig(t, dir, "sink", addr, k, sg, sinkOpts{ReadTimeout: "2s"})
	sp := startSink(t, "", cfg, pool, addr)
	targets := filepath.Join(dir, "targets.json")
	addTarget(t, targets, addr, k, "sink")
	seed := filepath.Join(dir, "seed")
	pid := sp.pid()

	var (
		nGarbage, nHalf, nSlow atomic.Int64
		stop                   = make(chan struct{})
		wg                     sync.WaitGroup
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	dial := func() net.Conn {
		d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+mrand.IntN(64)))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			return nil
		}
		return c
	}
	// Garbage: random bytes, lengths out of bounds, lengths that lie.
	for range garbageers {
		wg.Go(func() {
			buf := make([]byte, 3000)
			for !stopped() {
				c := dial()
				if c == nil {
					continue
				}
				n := mrand.IntN(len(buf))
				rand.Read(buf[:n])
				switch mrand.IntN(4) {
				case 0:
					binary.BigEndian.PutUint16(buf, 0xffff)
				case 1:
					binary.BigEndian.PutUint16(buf, uint16(mrand.IntN(72)))
				case 2:
					binary.BigEndian.PutUint16(buf, uint16(72+mrand.IntN(2000)))
				}
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Write(buf[:max(n, 2)])
				if mrand.IntN(4) == 0 {
					io.Copy(io.Discard, c) // wait for the verdict
				}
				c.Close()
				nGarbage.Add(1)
			}
		})
	}
	// Half-open: connect, maybe send a header or part of a frame, then
	// wait for the sink to give up on us; again.
	for range halfOpen {
		wg.Go(func() {
			for !stopped() {
				c := dial()
				if c == nil {
					continue
				}
				nHalf.Add(1)
				switch mrand.IntN(3) {
				case 1:
					c.Write([]byte{0x05, 0x67})
				case 2:
					b := make([]byte, 2+mrand.IntN(1000))
					rand.Read(b)
					binary.BigEndian.PutUint16(b, 1383)
					c.Write(b)
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				go func() { <-stop; c.Close() }()
				io.Copy(io.Discard, c)
				c.Close()
			}
		})
	}
	// Slow: a plausible header, then a byte every 300 ms.
	for range slow {
		wg.Go(func() {
			for !stopped() {
				c := dial()
				if c == nil {
					continue
				}
				nSlow.Add(1)
				c.Write([]byte{0x05, 0x67})
				for !stopped() {
					time.Sleep(300 * time.Millisecond)
					c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write([]byte{byte(mrand.IntN(256))}); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}

	// Memory, sampled throughout.
	var maxRSS atomic.Int64
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		for !stopped() {
			maxRSS.Store(max(maxRSS.Load(), procStatus(pid, "VmRSS")))
			time.Sleep(50 * time.Millisecond)
		}
	}()

	start := time.Now()
	time.Sleep(2 * time.Second) // let the held connections pile up
	retries, failed := 0, map[int]int{}
	var deliverTime time.Duration
	for i := 0; i < deliveries; i++ {
		makeDue(t, targets)
		r := runSource(t, "", sg, targets, seed, "--timeout", "5s")
		deliverTime += r.dur
		if r.code != 0 {
			failed[r.code]++
			retries++
			if retries > deliveries {
				t.Fatalf("too many failed runs (%v); last:\n%s", failed, r.out)
			}
			i--
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !sp.running() {
			t.Fatalf("the sink died after %d deliveries:\n%s", i, tail(sp.log(), 3000))
		}
	}
	if d := time.Since(start); d < minAttack {
		time.Sleep(minAttack - d)
	}
	if !sp.running() {
		t.Fatalf("the sink died:\n%s", tail(sp.log(), 3000))
	}
	hwm := procStatus(pid, "VmHWM")
	rss := procStatus(pid, "VmRSS")
	close(stop)
	wg.Wait()
	<-memDone
	attack := time.Since(start)

	acc := sp.accepted()["default"]
	if len(acc) != deliveries {
		t.Errorf("the sink accepted %d packets, want %d", len(acc), deliveries)
	}
	if got := fileSize(pool); got != deliveries*1024 {
		t.Errorf("pool is %d bytes, want %d", got, deliveries*1024)
	}
	if hwm > maxRSSKB {
		t.Errorf("sink VmHWM %d kB, above the %d kB bound", hwm, maxRSSKB)
	}
	reasons := map[string]int{}
	for _, f := range sp.logLines("rejected") {
		reasons[f["reason"]]++
	}
	if code := sp.term(); code != 0 {
		t.Errorf("entropy-sink exit %d on SIGTERM, want 0", code)
	}
	total := nGarbage.Load() + nHalf.Load() + nSlow.Load()
	result(t, "%d hostile connections in %.0f s (%d garbage, %d half-open, %d slow; %d+%d held at once): %d/%d source deliveries accepted "+
		"(%d runs retried %v, %.0f ms per run), sink up throughout; VmRSS max %d kB, VmHWM %d kB (now %d kB); sink rejections %v",
		total, attack.Seconds(), nGarbage.Load(), nHalf.Load(), nSlow.Load(), halfOpen, slow, len(acc), deliveries,
		retries, failed, float64(deliverTime.Milliseconds())/float64(deliveries+retries), maxRSS.Load(), hwm, rss, reasons)
}
