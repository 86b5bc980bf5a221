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

	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// BenchmarkProcess runs the real entropy-sink binary (file pool, counters
// in its state file), sends it 1000 packets, then holds 1000 idle connections open
// against it, and reports the process's resident set then (rss-MB) and
// its peak over the whole run (peak-rss-MB, VmHWM). One op is the whole
// scenario.
func BenchmarkProcess(b *testing.B) {
	const packets, idle = 1000, 1000
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
	var rss, hwm int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cfg := writeConfig(b, b.TempDir(), "json")
		c, err := sink.LoadConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.MaxConns = 2 * idle
		data, _ := c.Marshal()
		os.WriteFile(cfg, data, 0o600)
		b.StartTimer()

		cmd, addr := startSink(b, bin, cfg)
		for i, f := range frames {
			if st := sendFrame(b, addr, f); st != packet.StatusAccepted {
				b.Fatalf("frame %d: %s", i+1, st)
			}
		}
		conns := make([]net.Conn, 0, idle)
		for range idle {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		// Each idle connection holds a goroutine once accepted: wait for
		// the process to have them all (its open descriptors).
		pid := cmd.Process.Pid
		deadline := time.Now().Add(30 * time.Second)
		for openFiles(b, pid) < idle && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		r, h := memory(b, pid)
		rss, hwm = max(rss, r), max(hwm, h)
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
}

// startSink starts the binary and returns once it listens.
func startSink(b *testing.B, bin, cfg string) (*exec.Cmd, string) {
	cmd := exec.Command(bin, "-f", cfg, "--log-format", "json")
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
			addr, _ := m["address"].(string)
			// One log line per connection: keep reading so the sink
			// never blocks on a full pipe.
			go io.Copy(io.Discard, io.MultiReader(dec.Buffered(), stderr))
			return cmd, addr
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

// memory reads VmRSS and VmHWM of pid in bytes.
func memory(b *testing.B, pid int) (rss, hwm int64) {
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
		}
	}
	if rss == 0 || hwm == 0 {
		b.Fatalf("no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm
}
