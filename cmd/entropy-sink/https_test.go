package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/testtool/testpki"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// writeHTTPSConfig is writeConfig with an HTTPS listener on a free port of
// 127.0.0.1 that board1 may push to; the certificates lie beside the
// configuration. It returns the configuration and board1's HTTP client.
func writeHTTPSConfig(t *testing.T, dir string) (string, *http.Client) {
	t.Helper()
	testpki.Write(t, dir, []string{"ca"}, map[string]testpki.Cert{
		"sink-tls": testpki.Server("ca", "sink1"),
		"board1":   testpki.Client("ca", "board1"),
	})
	path := writeConfig(t, dir, "text")
	c, err := sink.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTPS = &sink.HTTPSConfig{Address: testtool.FreeAddr(t), Cert: "sink-tls.crt", Key: "sink-tls.key",
		ClientCA: "ca.crt", Clients: map[string]sink.ClientRights{"board1": {Push: true}}}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, data, 0o600)
	tc, err := tlsca.ClientConfig(filepath.Join(dir, "board1.crt"), filepath.Join(dir, "board1.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return path, &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// The server command with an HTTPS section: packets POSTed to it and sent
// over TCP share the counters; its metrics join the sink's; SIGTERM stops
// both listeners with exit 0.
func TestServeHTTPS(t *testing.T) {
	dir := t.TempDir()
	cfg, client := writeHTTPSConfig(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	httpsReady := make(chan net.Addr, 1)
	e := env{
		stopContext: func() (context.Context, context.CancelFunc) { return ctx, cancel },
		ready:       func(a, m net.Addr) { ready <- [2]net.Addr{a, m} },
		httpsReady:  func(a net.Addr) { httpsReady <- a },
		listen:      localListen,
	}
	errb := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Execute(newCommand(e), []string{"-f", cfg, "--metrics", "127.0.0.1:9"}, io.Discard, errb)
	}()
	var addrs [2]net.Addr
	select {
	case addrs = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, errb)
	}
	base := "https://" + (<-httpsReady).String()
	post := func(f []byte) (int, string) {
		t.Helper()
		resp, err := client.Post(base+"/v1/packet", "application/octet-stream", bytes.NewReader(f[2:]))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct{ Status string }
		json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r.Status
	}
	f1, f2 := sealFrame(t, 1), sealFrame(t, 2)
	if code, st := post(f1); code != 200 || st != "accepted" {
		t.Fatalf("POST: %d %s\n%s", code, st, errb)
	}
	if st := sendFrame(t, addrs[0].String(), f1); st != packet.StatusCounter {
		t.Fatalf("the HTTPS packet over TCP: %s", st)
	}
	if st := sendFrame(t, addrs[0].String(), f2); st != packet.StatusAccepted {
		t.Fatalf("TCP: %s", st)
	}
	if code, st := post(f2); code != 409 || st != "counter" {
		t.Fatalf("the TCP packet over HTTPS: %d %s", code, st)
	}
	resp, err := http.Get("http://" + addrs[1].String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`entropyshare_sink_packets_accepted_total{signer="default"} 2`,
		`entropyshare_sink_https_requests_total{client="board1",code="409",endpoint="packet"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if n := len(fileBytes(t, filepath.Join(dir, "pool.bin"))); n != 2*packet.ChunkSize {
		t.Fatalf("pool holds %d bytes", n)
	}
	if logs := errb.String(); !strings.Contains(logs, "https="+strings.TrimPrefix(base, "https://")) || !strings.Contains(logs, "transport=https client=board1") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// An HTTPS section whose files are missing or too open stops the sink at
// start: exit 2, naming the field or the chmod.
func TestServeHTTPSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := writeHTTPSConfig(t, dir)
	os.Rename(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.moved"))
	code, _, stderr := run(t, defaultEnv(), "-f", cfg)
	if code != 2 || !strings.Contains(stderr, cfg+": HTTPS.ClientCA:") {
		t.Fatalf("missing ClientCA: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, defaultEnv(), "status", "-f", cfg)
	if code != 2 {
		t.Fatalf("status with a missing ClientCA: exit %d: %s", code, stderr)
	}
	os.Rename(filepath.Join(dir, "ca.moved"), filepath.Join(dir, "ca.crt"))
	os.Chmod(filepath.Join(dir, "sink-tls.key"), 0o644)
	code, _, stderr = run(t, defaultEnv(), "-f", cfg)
	if code != 2 || !strings.Contains(stderr, "chmod 600") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("0644 HTTPS key: exit %d: %s", code, stderr)
	}
}
