package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/tlsca"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestTLS(t *testing.T) {
	t.Chdir(t.TempDir())
	start := time.Now()
	if code, out, stderr := run(t, "tls", "ca", "-o", "ca"); code != 0 || out != "" || !strings.Contains(stderr, "ca.key (mode 0600)") {
		t.Fatalf("ca: exit %d: %s%s", code, out, stderr)
	}
	ca := readCert(t, "ca.crt")
	if !ca.IsCA || ca.Subject.CommonName != "entropyshare CA" || mode(t, "ca.key") != 0o600 || mode(t, "ca.crt") != 0o644 ||
		ca.NotAfter.Before(start.Add(tlsca.DefaultCAValidity-time.Minute)) {
		t.Fatalf("CA %+v, key mode %04o", ca, mode(t, "ca.key"))
	}
	code, _, stderr := run(t, "tls", "issue", "--ca", "ca", "--server", "--name", "sink1", "--dns", "sink1.example.net",
		"--ip", "192.0.2.1", "--ip", "2001:db8::1", "-o", "sink1")
	if code != 0 {
		t.Fatalf("issue --server: exit %d: %s", code, stderr)
	}
	s := readCert(t, "sink1.crt")
	if s.Subject.CommonName != "sink1" || len(s.DNSNames) != 1 || len(s.IPAddresses) != 2 || mode(t, "sink1.key") != 0o600 ||
		s.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("server certificate %+v", s)
	}
	// -o defaults to the name; --ca takes the .crt file's name too; --days.
	if code, _, stderr := run(t, "tls", "issue", "--ca", "ca.crt", "--client", "--name", "board1", "--days", "30"); code != 0 {
		t.Fatalf("issue --client: exit %d: %s", code, stderr)
	}
	c := readCert(t, "board1.crt")
	if c.Subject.CommonName != "board1" || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || mode(t, "board1.key") != 0o600 ||
		c.NotAfter.After(time.Now().Add(30*24*time.Hour)) || c.NotAfter.Before(start.Add(30*24*time.Hour-time.Minute)) {
		t.Fatalf("client certificate %+v", c)
	}
	// The files are what tlsca loads: a TLS 1.3 handshake between them.
	scfg, err := tlsca.ServerConfig("sink1.crt", "sink1.key", "ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	ccfg, err := tlsca.ClientConfig("board1.crt", "board1.key", "ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	ccfg.ServerName = "sink1.example.net"
	cc, sc := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- tls.Server(sc, scfg).Handshake() }()
	if err := tls.Client(cc, ccfg).Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Never over an existing file without --force; with it, replaced.
	before, _ := os.ReadFile("board1.key")
	code, _, stderr = run(t, "tls", "issue", "--ca", "ca", "--client", "--name", "board1")
	if code != 1 || !strings.Contains(stderr, "board1.key exists") || !strings.Contains(stderr, "hint: use --force") {
		t.Fatalf("overwrite: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile("board1.key"); !bytes.Equal(before, after) {
		t.Fatal("a refused overwrite changed the key")
	}
	if code, _, _ := run(t, "tls", "ca", "-o", "ca"); code != 1 {
		t.Fatalf("CA overwrite: exit %d", code)
	}
	os.Chmod("board1.key", 0o644)
	if code, _, stderr := run(t, "tls", "issue", "--ca", "ca", "--client", "--name", "board1", "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile("board1.key"); bytes.Equal(before, after) || mode(t, "board1.key") != 0o600 {
		t.Fatalf("--force did not replace the key with a 0600 one (mode %04o)", mode(t, "board1.key"))
	}
}

func TestTLSErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, stderr := run(t, "tls", "ca"); code != 0 {
		t.Fatalf("ca: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"issue", "--name", "x"}, 2, "--server or --client"},
		{[]string{"issue", "--server", "--client", "--name", "x", "--dns", "x"}, 2, "give one"},
		{[]string{"issue", "--client"}, 2, "no --name"},
		{[]string{"issue", "--server", "--name", "s"}, 2, "needs a DNS name or an IP"},
		{[]string{"issue", "--client", "--name", "c", "--dns", "c.example.net"}, 2, "common name alone"},
		{[]string{"issue", "--server", "--name", "s", "--dns", "https://s.example.net/"}, 2, "not a DNS name"},
		{[]string{"issue", "--server", "--name", "s", "--ip", "300.1.1.1"}, 2, "--ip"},
		{[]string{"issue", "--client", "--name", "c", "--days", "0"}, 2, "--days 0"},
		{[]string{"ca", "-o", "ca2", "--days", "-1"}, 2, "--days -1"},
		{[]string{"ca", "-o", "ca2", "--name", ""}, 2, "no name"},
		{[]string{"issue", "--client", "--name", "c", "--ca", "nosuch"}, 1, "hint: make a CA with 'entropy-config tls ca -o nosuch'"},
		{[]string{"issue", "--client", "--name", "c", "--ca", "ca", "-o", "ca"}, 1, "ca.key exists"},
	} {
		code, _, stderr := run(t, append([]string{"tls"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "entropy-config: ") {
			t.Errorf("%v: exit %d: %s, want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	// Nothing was written by the refusals above.
	if ents, _ := os.ReadDir("."); len(ents) != 2 {
		t.Fatalf("files: %v", ents)
	}
	// A CA key others can read: refused, with the chmod that fixes it.
	os.Chmod("ca.key", 0o644)
	code, _, stderr := run(t, "tls", "issue", "--ca", "ca", "--client", "--name", "c")
	if code != 1 || !strings.Contains(stderr, "chmod 600 ca.key") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("0644 CA key: exit %d: %s", code, stderr)
	}
	// A leaf is no CA.
	os.Chmod("ca.key", 0o600)
	run(t, "tls", "issue", "--ca", "ca", "--client", "--name", "c")
	if code, _, stderr := run(t, "tls", "issue", "--ca", "c", "--client", "--name", "d"); code != 1 || !strings.Contains(stderr, "not a CA") {
		t.Fatalf("leaf as CA: exit %d: %s", code, stderr)
	}
}
