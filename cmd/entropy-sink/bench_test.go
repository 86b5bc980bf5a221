package main

import (
	"bufio"
	"bytes"
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

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// BenchmarkProcess runs the real entropy-sink binary with its default
// limits (file pool, counters in its state file), sends it 1000 packets,
// then holds every connection slot: MaxConns (256) idle frame connections
// from 32 loopback addresses, 8 each, and the metrics listener's 16
// half-sent requests from 4 addresses. It reports the process's resident
// set then (rss-MB), its peak over the whole run (peak-rss-MB, VmHWM) and
// its anonymous part then (anon-rss-MB, see memory) and its open
// descriptors then (fds). One op is the whole scenario.
func BenchmarkProcess(b *testing.B) {
	const packets, addrs, perAddr = 1000, 32, 8
	dir := b.TempDir()
	bin := filepath.Join(dir, "entropy-sink")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	frames := make([][]byte, packets)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < packets; i += 2 {
				frames[i] = sealFrame(b, int64(i+1))
			}
		})
	}
	wg.Wait()
	var rss, hwm, anon int64
	var fds int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cfg := writeConfig(b, b.TempDir(), "json")
		c, err := sink.LoadConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := os.ReadFile(cfg)
		b.StartTimer()

		cmd, addr, maddr := startSink(b, bin, cfg, "--metrics", testtool.FreeAddr(b))
		for i, f := range frames {
			if st := sendFrame(b, addr, f); st != packet.StatusAccepted {
				b.Fatalf("frame %d: %s", i+1, st)
			}
		}
		pid := cmd.Process.Pid
		// The last replies' connections linger up to a second.
		b.StopTimer()
		time.Sleep(1500 * time.Millisecond)
		b.StartTimer()
		base := openFiles(b, pid)
		var conns []net.Conn
		hold := func(from, to string, n int, send string) {
			for range n {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
				c, err := d.Dial("tcp", to)
				if err != nil {
					b.Fatal(err)
				}
				c.Write([]byte(send))
				conns = append(conns, c)
			}
		}
		for a := range addrs {
			hold(fmt.Sprintf("127.0.3.%d", 1+a), addr, perAddr, "")
		}
		for a := range sink.MetricsMaxConns / 4 {
			hold(fmt.Sprintf("127.0.4.%d", 1+a), maddr, 4, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
		}
		// Each held connection takes a descriptor once accepted: wait
		// for the process to have them all.
		want := base + addrs*perAddr + sink.MetricsMaxConns
		deadline := time.Now().Add(5 * time.Second)
		for openFiles(b, pid) < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		n := openFiles(b, pid)
		if n < want {
			b.Fatalf("the sink holds %d descriptors, want %d: %d before and every slot", n, want, base)
		}
		r, h, a := memory(b, pid)
		rss, hwm, anon, fds = max(rss, r), max(hwm, h), max(anon, a), max(fds, n)
		for _, c := range conns {
			c.Close()
		}
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("sink exited: %v", err)
		}
		b.StopTimer()
		// The counters went to the state file; the configuration is as written.
		if after, _ := os.ReadFile(cfg); !bytes.Equal(after, data) {
			b.Fatal("the sink wrote its configuration")
		}
		if st, err := sink.Status(c); err != nil || st[0].Counter != packets {
			b.Fatalf("stored counter: %+v %v", st, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(anon)/(1<<20), "anon-rss-MB")
	b.ReportMetric(float64(fds), "fds")
}

// startSink starts the binary with args and returns once it listens, with
// its frame and metrics addresses.
func startSink(b *testing.B, bin, cfg string, args ...string) (cmd *exec.Cmd, addr, metrics string) {
	cmd = exec.Command(bin, append([]string{"-f", cfg, "--log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill() })
	dec := json.NewDecoder(stderr)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			b.Fatalf("reading the log: %v", err)
		}
		if m["msg"] == "listening" {
			addr, _ = m["address"].(string)
			metrics, _ = m["metrics"].(string)
			// Keep reading so the sink never blocks on a full pipe.
			go io.Copy(io.Discard, io.MultiReader(dec.Buffered(), stderr))
			return cmd, addr, metrics
		}
	}
}

func openFiles(b *testing.B, pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		b.Fatal(err)
	}
	return len(ents)
}

// memory reads VmRSS, VmHWM and RssAnon of pid in bytes. RSS counts the
// pages of the binary's own text and read-only data the process has
// mapped (RssFile: clean, shared, given back under memory pressure);
// RssAnon is the rest, the memory the process itself allocated.
func memory(b *testing.B, pid int) (rss, hwm, anon int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		case "RssAnon":
			anon = kb << 10
		}
	}
	if rss == 0 || hwm == 0 || anon == 0 {
		b.Fatalf("no VmRSS/VmHWM/RssAnon in /proc/%d/status", pid)
	}
	return rss, hwm, anon
}
