package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
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
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// sinkProc is the entropy-sink binary running, with its JSON log read
// line by line and, when it was given one, its notification socket.
type sinkProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan map[string]any
	notify *net.UnixConn
}

// runSink starts the binary with args; notifySocket, when not empty, is
// given as $NOTIFY_SOCKET (a path, or @name for an abstract socket) after
// the test listens there.
func runSink(t *testing.T, notifySocket string, args ...string) *sinkProc {
	t.Helper()
	p := &sinkProc{t: t, lines: make(chan map[string]any, 1000)}
	p.cmd = exec.Command(sinkBinary(t), append(args, "--log-format", "json")...)
	p.cmd.Env = os.Environ()
	if notifySocket != "" {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifySocket, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		p.notify = c
		p.cmd.Env = append(p.cmd.Env, "NOTIFY_SOCKET="+notifySocket)
	}
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	go func() {
		defer close(p.lines)
		dec := json.NewDecoder(stderr)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				io.Copy(io.Discard, stderr)
				return
			}
			p.lines <- m
		}
	}()
	return p
}

// waitLog returns the next log line with message msg, failing on one with
// a message in fail, or when the log ends.
func (p *sinkProc) waitLog(msg string, fail ...string) map[string]any {
	p.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the sink's log ended before %q (exit: %v)", msg, p.cmd.Wait())
			}
			got, _ := m["msg"].(string)
			if got == msg {
				return m
			}
			for _, f := range fail {
				if got == f {
					p.t.Fatalf("log %q before %q: %v", got, msg, m)
				}
			}
		case <-timeout:
			p.t.Fatalf("no %q in the log", msg)
		}
	}
}

// readNotify returns the next notification the sink sent.
func (p *sinkProc) readNotify() string {
	p.t.Helper()
	buf := make([]byte, 4096)
	p.notify.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := p.notify.Read(buf)
	if err != nil {
		p.t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func (p *sinkProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// sealWith seals a frame of counter from key, for the vectors' sink key.
func sealWith(t testing.TB, key *rsa.PrivateKey, counter int64) []byte {
	p := &packet.Packet{Timestamp: time.Now().Unix(), Counter: counter}
	rand.Read(p.Chunk[:])
	payload, err := packet.Seal(rand.Reader, p, packet.Protocol2, key, (*[32]byte)(vectors.Read(t, "sink.pub")))
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

// SIGHUP reloads the configuration in the running binary: a signer added
// is accepted; a configuration that does not load (a bad field, a file
// others may read) leaves the sink serving with the one in use, and the
// log says why; counters never go down (a lower floor changes nothing).
// Around each reload the sink tells systemd RELOADING=1 (with
// MONOTONIC_USEC) and then READY=1; READY=1 once it listens, STOPPING=1
// at SIGTERM.
func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "json")
	first, err := x509.ParsePKCS1PrivateKey(vectors.Read(t, "signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secondDER, _ := x509.MarshalPKIXPublicKey(&second.PublicKey)
	p := runSink(t, filepath.Join(dir, "notify"), "-f", cfg)
	addr := p.waitLog("listening")["address"].(string)
	if n := p.readNotify(); n != "READY=1\nSTATUS=listening on "+addr {
		t.Fatalf("first notification %q", n)
	}
	expect := func(step string, key *rsa.PrivateKey, counter int64, want packet.Status) {
		t.Helper()
		if st := sendFrame(t, addr, sealWith(t, key, counter)); st != want {
			t.Fatalf("%s: counter %d: %s, want %s", step, counter, st, want)
		}
	}
	expectReload := func(failed bool) {
		t.Helper()
		n := p.readNotify()
		usec, ok := strings.CutPrefix(n, "RELOADING=1\nMONOTONIC_USEC=")
		if v, err := strconv.ParseInt(usec, 10, 64); !ok || err != nil || v <= 0 || v > monotonicUsec() {
			t.Fatalf("reloading notification %q", n)
		}
		want := "READY=1\nSTATUS=listening on " + addr + "; configuration reloaded"
		if failed {
			want = "READY=1\nSTATUS=listening on " + addr + "; reload failed, the previous configuration in use: "
		}
		if n := p.readNotify(); !strings.HasPrefix(n, want) {
			t.Fatalf("after the reload %q, want %q", n, want)
		}
	}
	expect("before", first, 5, packet.StatusAccepted)
	expect("before", second, 1, packet.StatusUnverified)

	// A signer added, the first one's floor below its stored counter.
	editConfig(t, cfg, func(c *sink.Config) {
		c.Counter = 2
		c.Signers = []sink.SignerConfig{{Name: "second", Signer: secondDER}}
	})
	p.signal(syscall.SIGHUP)
	p.waitLog("reloaded", "reload failed")
	expectReload(false)
	expect("signer added", second, 1, packet.StatusAccepted)
	expect("lower floor", first, 5, packet.StatusCounter)
	expect("lower floor", first, 6, packet.StatusAccepted)

	// A broken configuration: still serving with the one in use.
	good, _ := os.ReadFile(cfg)
	var m map[string]any
	json.Unmarshal(good, &m)
	m["Signers"] = []map[string]any{{"Name": "second", "Signer": "not base64!"}}
	broken, _ := json.Marshal(m)
	os.WriteFile(cfg, broken, 0o600)
	p.signal(syscall.SIGHUP)
	line := p.waitLog("reload failed: serving on with the configuration in use", "reloaded")
	if e, _ := line["error"].(string); !strings.Contains(e, cfg+": Signers[0].Signer:") {
		t.Fatalf("the log does not say why: %v", line)
	}
	expectReload(true)
	expect("after a broken configuration", second, 2, packet.StatusAccepted)
	expect("after a broken configuration", first, 7, packet.StatusAccepted)

	// A configuration others may read: refused, with the fix.
	os.WriteFile(cfg, good, 0o600)
	os.Chmod(cfg, 0o644)
	p.signal(syscall.SIGHUP)
	line = p.waitLog("reload failed: serving on with the configuration in use", "reloaded")
	if e, _ := line["error"].(string); !strings.Contains(e, "chmod 600 "+cfg) {
		t.Fatalf("the log does not say why: %v", line)
	}
	expectReload(true)
	expect("after a configuration too open", second, 3, packet.StatusAccepted)
	os.Chmod(cfg, 0o600)

	p.signal(syscall.SIGTERM)
	if n := p.readNotify(); n != "STOPPING=1" {
		t.Fatalf("at SIGTERM %q", n)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	// Counters on disk: as accepted, never lower.
	c, _ := sink.LoadConfig(cfg)
	st, err := sink.Status(c)
	if err != nil || len(st) != 2 || st[0].Counter != 7 || st[1].Name != "second" || st[1].Counter != 3 {
		t.Fatalf("stored: %+v %v", st, err)
	}
}

// sd_notify reaches an abstract socket too ($NOTIFY_SOCKET=@name).
func TestNotifyAbstractSocket(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "json")
	name := fmt.Sprintf("@entropy-sink-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	p := runSink(t, name, "-f", cfg)
	addr := p.waitLog("listening")["address"].(string)
	if n := p.readNotify(); n != "READY=1\nSTATUS=listening on "+addr {
		t.Fatalf("notification %q", n)
	}
	p.signal(syscall.SIGTERM)
	if n := p.readNotify(); n != "STOPPING=1" {
		t.Fatalf("at SIGTERM %q", n)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
}
