package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Helpers for tests that run the real binary.

// binarySink is an entropy-sink process started by a test.
type binarySink struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string // frame listener
	metrics string // metrics listener, or empty
	log     *lockedBuffer
	done    chan struct{}
}

// attackConfig writes the test configuration (the original's keys, a file
// pool) with the members of set added or replaced.
func attackConfig(t *testing.T, dir string, set map[string]any) string {
	t.Helper()
	p := writeConfig(t, dir, "text")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		m[k] = v
	}
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startBinary runs the binary (through prefix, a command such as prlimit,
// when given) with args and waits for its "listening" line.
func startBinary(t *testing.T, prefix []string, args ...string) *binarySink {
	t.Helper()
	bin := sinkBinary(t)
	argv := append(append(append([]string{}, prefix...), bin), args...)
	s := &binarySink{t: t, log: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan map[string]string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			s.log.Write(append(sc.Bytes(), '\n'))
			if f := testtool.LogFields(sc.Text()); f["msg"] == "listening" && !sent {
				listening <- f
				sent = true
			}
		}
		s.cmd.Wait()
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	select {
	case f := <-listening:
		s.addr = f["address"]
		if f["metrics"] != "off" {
			s.metrics = f["metrics"]
		}
	case <-s.done:
		t.Fatalf("entropy-sink exited: %v\n%s", s.cmd.ProcessState, s.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("entropy-sink did not start:\n%s", s.log)
	}
	return s
}

// stop ends the sink with SIGTERM and waits for it.
func (s *binarySink) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.t.Fatal("entropy-sink did not stop")
	}
}

// lines returns the log lines whose msg is msg.
func (s *binarySink) lines(msg string) []map[string]string {
	var out []map[string]string
	for _, l := range strings.Split(s.log.String(), "\n") {
		if f := testtool.LogFields(l); f["msg"] == msg {
			out = append(out, f)
		}
	}
	return out
}

// rejected returns packets_rejected_total by reason, from /metrics.
func (s *binarySink) rejected() map[string]float64 {
	s.t.Helper()
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]float64{}
	if f := fams["entropyshare_sink_packets_rejected_total"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func (s *binarySink) openFiles() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatal(err)
	}
	return len(ents)
}

// dialFrom connects to addr from the loopback address from (127.0.0.x:
// Linux routes all of 127/8 to lo without configuring anything).
func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// holdIdle opens n connections from from that send nothing, and returns
// them; the sink may have refused some (they stay open until it closes
// them).
func holdIdle(t *testing.T, from, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := dialFrom(from, addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		cs = append(cs, c)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
	return cs
}

// deliver sends frame from 127.0.0.1 and returns the status and how long
// the reply took.
func deliver(t *testing.T, addr string, frame []byte) (packet.Status, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(start.Add(10 * time.Second))
	if _, err := c.Write(frame); err != nil {
		t.Fatalf("writing the frame: %v", err)
	}
	st, _, err := packet.ReadStatus(c)
	if err != nil {
		t.Fatalf("no reply within 10 s: %v", err)
	}
	return st, time.Since(start)
}
