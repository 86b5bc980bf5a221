//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// result prints a scenario's one-line result where scripts/e2e.sh finds it.
func result(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("RESULT %s: %s", t.Name(), fmt.Sprintf(format, args...))
	fmt.Println(line)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// nsCommand runs name in network namespace ns, or here when ns is empty.
// ip netns exec execs the program in place, so signals sent to the
// command's process reach the program itself.
func nsCommand(ns, name string, args ...string) *exec.Cmd {
	if ns == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// runTool runs one of the project's binaries and fails the test unless it
// exits 0.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin(name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// signer is an RSA signer key pair made by rsagen.
type signer struct {
	Key, Pub string
	priv     *rsa.PrivateKey
	pubDER   []byte
}

func newSigner(t *testing.T, dir, base string) *signer {
	t.Helper()
	b := filepath.Join(dir, base)
	runTool(t, "rsagen", "-s", "2048", "-o", b)
	priv, err := keys.LoadRSAPrivate(b + ".key")
	if err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(b + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return &signer{Key: b + ".key", Pub: b + ".pub", priv: priv, pubDER: der}
}

// sinkKeys is a Curve25519 key pair made by curve25519gen.
type sinkKeys struct {
	Key, Pub string
	public   *[32]byte
}

func newSinkKeys(t *testing.T, dir, base string) *sinkKeys {
	t.Helper()
	b := filepath.Join(dir, base)
	runTool(t, "curve25519gen", "-o", b)
	pub, err := keys.LoadCurve25519Public(b + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return &sinkKeys{Key: b + ".key", Pub: b + ".pub", public: pub}
}

// extraSigner is one entry of a sink configuration's Signers.
type extraSigner struct {
	Name   string
	S      *signer
	Legacy bool
}

type sinkOpts struct {
	Legacy        bool
	Drift         int // seconds; 0 means 120
	MaxConns      int
	PerAddress    int // MaxConnsPerAddress
	ReadTimeout   string
	HeaderTimeout string
	Extra         []extraSigner
	HTTPS         *sink.HTTPSConfig
}

// writeSinkConfig makes a sink configuration with entropy-config (a file
// pool beside it), then adds the settings entropy-config has no flag for.
func writeSinkConfig(t *testing.T, dir, name, addr string, k *sinkKeys, s *signer, o sinkOpts) (cfgPath, poolPath string) {
	t.Helper()
	cfgPath = filepath.Join(dir, name+".json")
	poolPath = filepath.Join(dir, name+".pool")
	drift := o.Drift
	if drift == 0 {
		drift = 120
	}
	args := []string{"-a", addr, "-k", k.Key, "-s", s.Pub, "-d", strconv.Itoa(drift), "--pool", "file:" + poolPath, "-o", cfgPath}
	if o.Legacy {
		args = append(args, "--legacy")
	}
	runTool(t, "entropy-config", args...)
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("entropy-config wrote %s with %v (%v), want mode 0600", cfgPath, fi.Mode().Perm(), err)
	}
	if o.MaxConns == 0 && o.PerAddress == 0 && o.ReadTimeout == "" && o.HeaderTimeout == "" && len(o.Extra) == 0 && o.HTTPS == nil {
		return cfgPath, poolPath
	}
	var m map[string]json.RawMessage
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	set := func(k string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		m[k] = b
	}
	if o.PerAddress != 0 {
		set("MaxConnsPerAddress", o.PerAddress)
	}
	if o.MaxConns != 0 {
		set("MaxConns", o.MaxConns)
	}
	if o.ReadTimeout != "" {
		set("ReadTimeout", o.ReadTimeout)
	}
	if o.HeaderTimeout != "" {
		set("HeaderTimeout", o.HeaderTimeout)
	}
	if len(o.Extra) > 0 {
		type entry struct {
			Name    string
			Signer  []byte
			Counter int64
			Legacy  bool
		}
		var es []entry
		for _, e := range o.Extra {
			es = append(es, entry{Name: e.Name, Signer: e.S.pubDER, Legacy: e.Legacy})
		}
		set("Signers", es)
	}
	if o.HTTPS != nil {
		set("HTTPS", o.HTTPS)
	}
	out, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, cfgPath, append(out, '\n'), 0o600)
	if _, err := sink.LoadConfig(cfgPath); err != nil {
		t.Fatalf("edited sink configuration does not load: %v", err)
	}
	return cfgPath, poolPath
}

// writeAtomic replaces path with data the way the project's tools do.
func writeAtomic(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := path + ".e2e-tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsPKI is a CA made by entropy-config tls, the client certificate
// board1 from it, and server certificates issued on demand.
type tlsPKI struct {
	dir string
	CA  string // ca.crt
}

func newTLSPKI(t *testing.T, dir string) *tlsPKI {
	t.Helper()
	p := &tlsPKI{dir: dir, CA: filepath.Join(dir, "ca.crt")}
	runTool(t, "entropy-config", "tls", "ca", "-o", filepath.Join(dir, "ca"))
	runTool(t, "entropy-config", "tls", "issue", "--ca", filepath.Join(dir, "ca"), "--client", "--name", "board1", "-o", filepath.Join(dir, "board1"))
	return p
}

// sourceFlags are entropy-source's flags for board1's certificate.
func (p *tlsPKI) sourceFlags() []string {
	return []string{"--tls-cert", filepath.Join(p.dir, "board1.crt"), "--tls-key", filepath.Join(p.dir, "board1.key"), "--tls-ca", p.CA}
}

// sinkHTTPS issues a server certificate for ip and returns the HTTPS
// section of a sink listening on ip:port that board1 may push to.
func (p *tlsPKI) sinkHTTPS(t *testing.T, name, ip string, port int) *sink.HTTPSConfig {
	t.Helper()
	base := filepath.Join(p.dir, name+"-tls")
	runTool(t, "entropy-config", "tls", "issue", "--ca", filepath.Join(p.dir, "ca"), "--server", "--name", name, "--ip", ip, "-o", base)
	return &sink.HTTPSConfig{Address: net.JoinHostPort(ip, strconv.Itoa(port)), Cert: base + ".crt", Key: base + ".key",
		ClientCA: p.CA, Clients: map[string]sink.ClientRights{"board1": {Push: true}}}
}

// sinkCounters returns the stored counters of the sink configured by path,
// by signer name ("default" for Signer), as entropy-sink status reads them
// (the state file beside it, with the configuration's floors).
func sinkCounters(path string) (map[string]int64, error) {
	cfg, err := sink.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	st, err := sink.Status(cfg)
	if err != nil {
		return nil, err
	}
	c := map[string]int64{}
	for _, s := range st {
		if s.Name != "" {
			c[s.Name] = s.Counter
		}
	}
	return c, nil
}

// sinkProc is an entropy-sink process that can be killed and restarted.
type sinkProc struct {
	t       *testing.T
	ns      string
	cfg     string
	pool    string
	addr    string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	starts int
}

func startSink(t *testing.T, ns, cfg, pool, addr string) *sinkProc {
	t.Helper()
	s := &sinkProc{t: t, ns: ns, cfg: cfg, pool: pool, addr: addr, logPath: strings.TrimSuffix(cfg, ".json") + ".log"}
	t.Cleanup(s.kill)
	s.start()
	return s
}

// start runs the sink and waits for its "listening" line.
func (s *sinkProc) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := nsCommand(s.ns, bin("entropy-sink"), "-f", s.cfg, "--shutdown-timeout", "5s")
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.starts++
	want := s.starts
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(s.log(), "msg=listening") >= want {
			return
		}
		select {
		case <-done:
			s.t.Fatalf("entropy-sink exited at start (%v):\n%s", s.err, tail(s.log(), 2000))
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.t.Fatalf("entropy-sink did not start listening:\n%s", tail(s.log(), 2000))
}

func (s *sinkProc) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

func (s *sinkProc) running() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *sinkProc) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// term sends SIGTERM and returns the exit code.
func (s *sinkProc) term() int {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.t.Errorf("entropy-sink did not exit within 20s of SIGTERM")
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	return cmd.ProcessState.ExitCode()
}

func (s *sinkProc) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// accepted returns the counters of the sink's "accepted" lines by signer.
func (s *sinkProc) accepted() map[string][]int64 {
	out := map[string][]int64{}
	sc := bufio.NewScanner(strings.NewReader(s.log()))
	for sc.Scan() {
		f := testtool.LogFields(sc.Text())
		if f["msg"] != "accepted" {
			continue
		}
		c, err := strconv.ParseInt(f["counter"], 10, 64)
		if err != nil {
			continue
		}
		out[f["signer"]] = append(out[f["signer"]], c)
	}
	return out
}

// logLines returns the parsed log lines whose msg is msg.
func (s *sinkProc) logLines(msg string) []map[string]string {
	var out []map[string]string
	sc := bufio.NewScanner(strings.NewReader(s.log()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := testtool.LogFields(sc.Text()); f["msg"] == msg {
			out = append(out, f)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// target is a targets-file entry as the source writes it.
type target struct {
	Address   string
	Public    string
	Counter   int64
	Next      int64
	Name      string
	Protocol  int
	LastError string
}

func readTargets(path string) ([]target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ts []target
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("targets file %s does not parse: %w\n%s", path, err, data)
	}
	return ts, nil
}

// makeDue sets every entry's Next to 0, keeping every other member.
func makeDue(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var es []map[string]json.RawMessage
	if err := json.Unmarshal(data, &es); err != nil {
		t.Fatalf("targets file does not parse: %v\n%s", err, data)
	}
	for _, e := range es {
		e["Next"] = json.RawMessage("0")
	}
	out, err := json.MarshalIndent(es, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, path, append(out, '\n'), 0o644)
}

// addTarget appends an entry with entropy-target --append.
func addTarget(t *testing.T, targets, addr string, k *sinkKeys, name string, extra ...string) {
	t.Helper()
	runTool(t, "entropy-target", append([]string{"-a", addr, "-k", k.Pub, "--name", name, "--append", targets}, extra...)...)
}

// sourceRun is one finished entropy-source run.
type sourceRun struct {
	code int
	out  string
	dur  time.Duration
}

func runSource(t *testing.T, ns string, s *signer, targets, seed string, extra ...string) sourceRun {
	t.Helper()
	args := append([]string{"-k", s.Key, "-t", targets, "-s", seed, "--verbose"}, extra...)
	cmd := nsCommand(ns, bin("entropy-source"), args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := sourceRun{out: string(out), dur: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("entropy-source: %v", err)
	}
	return r
}

// Frames sealed by the test itself.

// markedChunk makes a chunk that names its signer and counter, so a pool
// can be read back chunk by chunk.
func markedChunk(signerIdx byte, counter int64) [packet.ChunkSize]byte {
	var c [packet.ChunkSize]byte
	rand.Read(c[:])
	copy(c[:4], "E2EC")
	c[4] = signerIdx
	binary.BigEndian.PutUint64(c[5:13], uint64(counter))
	return c
}

func parseMarkedChunk(c []byte) (signerIdx byte, counter int64, ok bool) {
	if len(c) != packet.ChunkSize || string(c[:4]) != "E2EC" {
		return 0, 0, false
	}
	return c[4], int64(binary.BigEndian.Uint64(c[5:13])), true
}

// sealFrame seals a packet to the sink and returns the whole frame.
func sealFrame(t testing.TB, s *signer, proto packet.Protocol, sinkPub *[32]byte, counter int64, chunk [packet.ChunkSize]byte) []byte {
	p := &packet.Packet{Timestamp: time.Now().Unix(), Counter: counter, Chunk: chunk}
	payload, err := packet.Seal(rand.Reader, p, proto, s.priv, sinkPub)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

// Outcomes of sendFrame besides a status byte.
const (
	notSent   = -1 // the connection failed before the frame was written
	noOutcome = -2 // written, but no reply: the sink may or may not have it
)

// sendFrame delivers one frame and reads the status reply.
func sendFrame(addr string, frame []byte, timeout time.Duration) (status int, value int64) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return notSent, 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(frame); err != nil {
		return noOutcome, 0
	}
	var b [9]byte
	if _, err := io.ReadFull(c, b[:1]); err != nil {
		return noOutcome, 0
	}
	if b[0] == byte(packet.StatusCounter) || b[0] == byte(packet.StatusDrift) {
		if _, err := io.ReadFull(c, b[1:9]); err != nil {
			return noOutcome, 0
		}
		value = int64(binary.BigEndian.Uint64(b[1:9]))
	}
	return int(b[0]), value
}

// procStatus reads a field of /proc/PID/status in kB.
func procStatus(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}
