package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/internal/testtool/testpki"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/sink"
)

// pullSink serves a sink's HTTPS listener on 127.0.0.1 with random bytes
// from a ChaCha8 stream seeded with seed, for the clients web1 (Random, a
// budget of 100 bytes) and board1 (Push only). Its folder holds ca.crt,
// the clients' BASE.crt and BASE.key, and those of stranger (web1, from
// another CA) and other.crt (that CA).
func pullSink(t *testing.T, seed byte) (dir, url string) {
	t.Helper()
	dir = t.TempDir()
	testpki.Write(t, dir, []string{"ca", "other"}, map[string]testpki.Cert{
		"sink":     testpki.Server("ca", "sink1"),
		"web1":     testpki.Client("ca", "web1"),
		"board1":   testpki.Client("ca", "board1"),
		"stranger": testpki.Client("other", "web1"),
	})
	cfg := &sink.HTTPSConfig{Address: "127.0.0.1:8443", Cert: "sink.crt", Key: "sink.key", ClientCA: "ca.crt",
		Clients: map[string]sink.ClientRights{"web1": {Random: true, BytesPerDay: 100}, "board1": {Push: true}}}
	s, err := sink.NewHTTPSServer(cfg, dir, sink.HTTPSOptions{
		Random: rand.NewChaCha8([32]byte{seed}),
		Accept: func(context.Context, []byte) (packet.Status, int64, error) { return packet.StatusAccepted, 0, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-served
	})
	return dir, "https://" + l.Addr().String()
}

func TestPullFilePool(t *testing.T) {
	dir, url := pullSink(t, 7)
	p := func(n string) string { return filepath.Join(dir, n) }
	pool := p("pool.bin")
	args := []string{"pull", "--from", url, "--cert", p("web1.crt"), "--key", p("web1.key"), "--ca", p("ca.crt"), "--pool", "file:" + pool}
	code, out, stderr := run(t, defaultEnv(), append(args, "--bytes", "40")...)
	if code != 0 || out != "" || !strings.Contains(stderr, "fed 40 bytes") {
		t.Fatalf("exit %d: %s%s", code, out, stderr)
	}
	want := make([]byte, 80)
	io.ReadFull(rand.NewChaCha8([32]byte{7}), want)
	if got, _ := os.ReadFile(pool); !bytes.Equal(got, want[:40]) {
		t.Fatalf("pool holds % x", got)
	}
	// The next pull appends; a path prefix in --from is kept (here none, "/").
	args[2] = url + "/"
	if code, _, stderr := run(t, defaultEnv(), append(args, "--bytes", "40")...); code != 0 {
		t.Fatalf("second pull: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(pool); !bytes.Equal(got, want) {
		t.Fatalf("pool after two pulls: % x", got)
	}
	// The budget (100 bytes) is spent: exit 1, nothing fed, and why.
	code, _, stderr = run(t, defaultEnv(), append(args, "--bytes", "40")...)
	if code != 1 || !strings.Contains(stderr, "429") || !strings.Contains(stderr, "budget") || !strings.Contains(stderr, "retry after") {
		t.Fatalf("past the budget: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(pool); len(got) != 80 {
		t.Fatalf("a refused pull fed the pool: %d bytes", len(got))
	}
}

// Failures change nothing: no pool file appears.
func TestPullFailures(t *testing.T) {
	dir, url := pullSink(t, 1)
	p := func(n string) string { return filepath.Join(dir, n) }
	pool := p("pool.bin")
	closedURL := "https://" + testtool.FreeAddr(t)
	for _, tc := range []struct {
		name                    string
		from, cert, key, ca, by string
		want                    string
	}{
		{"no right", url, "board1.crt", "board1.key", "ca.crt", "", `hint: give "board1" the Random right`},
		{"untrusted sink", url, "web1.crt", "web1.key", "other.crt", "", "hint: --ca must hold"},
		{"certificate from another CA", url, "stranger.crt", "stranger.key", "ca.crt", "", "hint: the sink refused this client's certificate"},
		{"nothing listening", closedURL, "web1.crt", "web1.key", "ca.crt", "", "connection refused"},
		{"not a sink", url + "/elsewhere", "web1.crt", "web1.key", "ca.crt", "", "404"},
	} {
		code, _, stderr := run(t, defaultEnv(), "pull", "--from", tc.from, "--cert", p(tc.cert), "--key", p(tc.key),
			"--ca", p(tc.ca), "--pool", "file:"+pool)
		if code != 1 || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "entropy-sink: ") {
			t.Errorf("%s: exit %d: %s", tc.name, code, stderr)
		}
		if _, err := os.Stat(pool); err == nil {
			t.Fatalf("%s: the pool file was made", tc.name)
		}
	}
}

func TestPullUsage(t *testing.T) {
	dir, url := pullSink(t, 1)
	p := func(n string) string { return filepath.Join(dir, n) }
	os.WriteFile(p("open.key"), mustRead(t, p("web1.key")), 0o644)
	os.Chmod(p("open.key"), 0o644)
	good := map[string]string{"--from": url, "--cert": p("web1.crt"), "--key": p("web1.key"), "--ca": p("ca.crt"), "--pool": "file:" + p("pool.bin")}
	for _, tc := range []struct {
		flag, value, want string
	}{
		{"--from", "", "no --from"},
		{"--from", "http://127.0.0.1:1", "want https://HOST"},
		{"--from", "https://127.0.0.1:1/?x=1", "want https://HOST"},
		{"--from", "127.0.0.1:8443", "want https://HOST"},
		{"--bytes", "0", "--bytes 0"},
		{"--bytes", "65537", "--bytes 65537"},
		{"--credit", "513", "want 0 to 512 bits"},
		{"--credit", "-1", "--credit -1"},
		{"--pool", "disk", `--pool "disk"`},
		{"--pool", "file:", `--pool "file:"`},
		{"--key", p("open.key"), "chmod 600 " + p("open.key")},
		{"--cert", p("nosuch.crt"), "no such file"},
		{"--ca", p("web1.key"), `"PRIVATE KEY"`},
		{"--key", p("board1.key"), "private key does not match"},
	} {
		args := []string{"pull", "--bytes", "64"}
		for f, v := range good {
			if f != tc.flag {
				args = append(args, f, v)
			}
		}
		args = append(args, tc.flag, tc.value)
		code, _, stderr := run(t, defaultEnv(), args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s %q: exit %d: %s", tc.flag, tc.value, code, stderr)
		}
	}
	if _, err := os.Stat(p("pool.bin")); err == nil {
		t.Fatal("a refused pull made the pool file")
	}
}

// As root the kernel pool takes the bytes (RNDADDENTROPY, or /dev/random
// where the ioctl is refused, in a container say).
func TestPullKernelPool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("feeding the kernel pool needs root")
	}
	dir, url := pullSink(t, 1)
	p := func(n string) string { return filepath.Join(dir, n) }
	code, _, stderr := run(t, defaultEnv(), "pull", "--from", url, "--cert", p("web1.crt"), "--key", p("web1.key"),
		"--ca", p("ca.crt"), "--bytes", "32", "--credit", "0")
	if code != 0 || !strings.Contains(stderr, "fed 32 bytes from 127.0.0.1") || !strings.Contains(stderr, "to the kernel pool, crediting 0 bits") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
