package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
	"github.com/entropyshare/entropyshare/keys"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func parse(t *testing.T, p *Pair) *x509.Certificate {
	t.Helper()
	b, rest := pem.Decode(p.Cert)
	if b == nil || b.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("certificate PEM: %q", p.Cert)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := pem.Decode(p.Key); k == nil || k.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM type: %v", k)
	}
	return c
}

func newCA(t *testing.T, name string) (*Pair, *Authority) {
	t.Helper()
	p, err := NewCA(name, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuthority(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

func TestCertificates(t *testing.T) {
	caPair, ca := newCA(t, "entropyshare test CA")
	c := parse(t, caPair)
	if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero || c.Subject.CommonName != "entropyshare test CA" ||
		c.KeyUsage&x509.KeyUsageCertSign == 0 || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("CA: %+v", c)
	}
	if !c.NotBefore.Equal(now.Add(-backdate)) || !c.NotAfter.Equal(now.Add(DefaultCAValidity)) {
		t.Fatalf("CA validity %s to %s", c.NotBefore, c.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)

	srv, err := ca.Issue(Leaf{Name: "sink1", Usage: Server, DNSNames: []string{"sink1.example.net"},
		IPs: []net.IP{net.ParseIP("192.0.2.1")}}, now)
	if err != nil {
		t.Fatal(err)
	}
	s := parse(t, srv)
	if s.IsCA || s.Subject.CommonName != "sink1" || len(s.ExtKeyUsage) != 1 || s.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth ||
		s.DNSNames[0] != "sink1.example.net" || !s.IPAddresses[0].Equal(net.ParseIP("192.0.2.1")) ||
		!s.NotAfter.Equal(now.Add(DefaultLeafValidity)) || string(s.AuthorityKeyId) != string(c.SubjectKeyId) {
		t.Fatalf("server: %+v", s)
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: roots, DNSName: "sink1.example.net", CurrentTime: now}); err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(Leaf{Name: "board1", Usage: Client, Validity: 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	cc := parse(t, cli)
	if cc.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cc.Subject.CommonName != "board1" || !cc.NotAfter.Equal(now.Add(24*time.Hour)) ||
		len(cc.DNSNames)+len(cc.IPAddresses) != 0 {
		t.Fatalf("client: %+v", cc)
	}
	if _, err := cc.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
		t.Fatal(err)
	}
	if srv.Key == nil || string(cli.Key) == string(srv.Key) || cc.SerialNumber.Cmp(s.SerialNumber) == 0 {
		t.Fatal("keys or serial numbers repeat")
	}

	// A leaf ends with its CA.
	short, _ := NewCA("short", time.Hour, now)
	sa, _ := ParseAuthority(short.Cert, short.Key)
	l, err := sa.Issue(Leaf{Name: "x", Usage: Client}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := parse(t, l).NotAfter; !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("leaf outlives its CA: %s", got)
	}
	if _, err := sa.Issue(Leaf{Name: "x", Usage: Client}, now.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired CA issued: %v", err)
	}
	// A leaf is no CA.
	if _, err := ParseAuthority(cli.Cert, cli.Key); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("leaf as CA: %v", err)
	}
	if _, err := ParseAuthority(caPair.Cert, cli.Key); err == nil {
		t.Fatal("CA certificate with another key accepted")
	}
}

func TestIssueErrors(t *testing.T) {
	_, ca := newCA(t, "ca")
	for _, tc := range []struct {
		leaf Leaf
		want string
	}{
		{Leaf{Usage: Client}, "no name"},
		{Leaf{Name: strings.Repeat("a", 65), Usage: Client}, "1 to 64"},
		{Leaf{Name: "a\nb", Usage: Client}, "unprintable"},
		{Leaf{Name: "\xff", Usage: Client}, "UTF-8"},
		{Leaf{Name: "s", Usage: Server}, "needs a DNS name or an IP"},
		{Leaf{Name: "c", Usage: Client, DNSNames: []string{"c.example.net"}}, "common name alone"},
		{Leaf{Name: "s", Usage: Server, DNSNames: []string{"https://s.example.net"}}, "not a DNS name"},
		{Leaf{Name: "s", Usage: Server, DNSNames: []string{"s.example.net:8443"}}, "not a DNS name"},
		{Leaf{Name: "c", Usage: Client, Validity: -time.Hour}, "negative"},
		{Leaf{Name: "c"}, "unknown certificate usage"},
	} {
		_, err := ca.Issue(tc.leaf, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tlsca: ") {
			t.Errorf("%+v: %v, want %q", tc.leaf, err, tc.want)
		}
	}
	if _, err := NewCA("", 0, now); err == nil {
		t.Error("CA without a name")
	}
	if _, err := NewCA("ca", -1, now); err == nil {
		t.Error("CA with negative validity")
	}
}

// files writes pairs into a folder as BASE.crt and BASE.key (0600).
func files(t *testing.T, dir string, pairs map[string]*Pair) {
	t.Helper()
	for base, p := range pairs {
		if err := os.WriteFile(filepath.Join(dir, base+".crt"), p.Cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, base+".key"), p.Key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// pki is a CA with a server and a client, and a second CA with a client,
// in files; it returns their folder.
func pki(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caPair, ca := newCA(t, "ca")
	otherPair, other := newCA(t, "other")
	srv, err := ca.Issue(Leaf{Name: "sink1", Usage: Server, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(Leaf{Name: "board1", Usage: Client}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue(Leaf{Name: "board1", Usage: Client}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	files(t, dir, map[string]*Pair{"ca": caPair, "other": otherPair, "sink1": srv, "board1": cli, "stranger": stranger})
	return dir
}

// handshake serves one TLS connection with cfg and dials it with ccfg; it
// returns the server's view and the client's and the server's errors.
func handshake(t *testing.T, cfg, ccfg *tls.Config) (st tls.ConnectionState, clientErr, serverErr error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		err = tc.Handshake()
		st = tc.ConnectionState()
		if err == nil {
			// TLS 1.3 clients learn of a refused certificate on their
			// first read: answer one byte.
			_, err = c.Write([]byte{1})
		}
		done <- err
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", l.Addr().String(), ccfg)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	serverErr = <-done
	return st, err, serverErr
}

func TestHandshake(t *testing.T) {
	dir := pki(t)
	p := func(n string) string { return filepath.Join(dir, n) }
	cfg, err := ServerConfig(p("sink1.crt"), p("sink1.key"), p("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	client := func(base, ca string) *tls.Config {
		c, err := ClientConfig(p(base+".crt"), p(base+".key"), p(ca))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	st, cerr, serr := handshake(t, cfg, client("board1", "ca.crt"))
	if cerr != nil || serr != nil || st.Version != tls.VersionTLS13 || len(st.VerifiedChains) == 0 ||
		st.VerifiedChains[0][0].Subject.CommonName != "board1" {
		t.Fatalf("client %v, server %v, version %x", cerr, serr, st.Version)
	}
	// A client certificate from another CA, even with a listed name.
	if _, cerr, serr := handshake(t, cfg, client("stranger", "ca.crt")); cerr == nil || serr == nil {
		t.Fatalf("other CA's client: client %v, server %v", cerr, serr)
	}
	// No client certificate.
	none := client("board1", "ca.crt")
	none.Certificates = nil
	if _, cerr, serr := handshake(t, cfg, none); cerr == nil || serr == nil || !strings.Contains(serr.Error(), "certificate") {
		t.Fatalf("no client certificate: client %v, server %v", cerr, serr)
	}
	// A client that trusts another CA refuses the server.
	if _, cerr, _ := handshake(t, cfg, client("board1", "other.crt")); cerr == nil || !strings.Contains(cerr.Error(), "unknown authority") {
		t.Fatalf("server from an untrusted CA: %v", cerr)
	}
	// TLS 1.2 only.
	old := client("board1", "ca.crt")
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if _, cerr, serr := handshake(t, cfg, old); cerr == nil || serr == nil || !strings.Contains(serr.Error(), "version") {
		t.Fatalf("TLS 1.2: client %v, server %v", cerr, serr)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := pki(t)
	p := func(n string) string { return filepath.Join(dir, n) }

	// A private key group or others can read is refused, with the fix.
	os.Chmod(p("board1.key"), 0o640)
	_, err := LoadKeyPair(p("board1.crt"), p("board1.key"))
	if !errors.Is(err, keys.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+p("board1.key")) {
		t.Fatalf("0640 key: %v", err)
	}
	if _, err := ClientConfig(p("board1.crt"), p("board1.key"), p("ca.crt")); !errors.Is(err, keys.ErrPermissions) {
		t.Fatalf("0640 key in ClientConfig: %v", err)
	}
	if _, err := LoadAuthority(p("ca.crt"), p("board1.key")); !errors.Is(err, keys.ErrPermissions) {
		t.Fatalf("0640 key in LoadAuthority: %v", err)
	}
	os.Chmod(p("board1.key"), 0o600)
	os.Chmod(p("ca.key"), 0o604)
	if _, err := LoadAuthority(p("ca.crt"), p("ca.key")); !errors.Is(err, keys.ErrPermissions) {
		t.Fatalf("0604 CA key: %v", err)
	}
	os.Chmod(p("ca.key"), 0o600)

	// A key that is not the certificate's.
	if _, err := LoadKeyPair(p("board1.crt"), p("sink1.key")); err == nil || !strings.Contains(err.Error(), p("board1.crt")) {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := LoadKeyPair(p("missing.crt"), p("board1.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing certificate: %v", err)
	}

	// CA bundles: every block a certificate, one at least.
	write := func(name string, data []byte) string {
		os.WriteFile(p(name), data, 0o644)
		return p(name)
	}
	ca, _ := os.ReadFile(p("ca.crt"))
	other, _ := os.ReadFile(p("other.crt"))
	key, _ := os.ReadFile(p("board1.key"))
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{nil, "no PEM certificate"},
		{[]byte("not PEM at all\n"), "no PEM certificate"},
		{append(append([]byte{}, ca...), key...), `block 2 is "PRIVATE KEY"`},
		{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}}), "certificate 1"},
		{make([]byte, maxCertFile+1), "larger than"},
	} {
		if _, err := LoadPool(write("bundle.crt", tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bundle: %v, want %q", err, tc.want)
		}
	}
	if _, err := LoadPool(write("bundle.crt", append(append([]byte{}, ca...), other...))); err != nil {
		t.Fatalf("two CAs: %v", err)
	}
}

// Certificates openssl makes work as well as ours: an openssl CA signs the
// sink's client certificates, and issues from it too; openssl verifies
// the chains this package makes.
func TestOpenSSLInterop(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ossl-ca.key", "-out", "ossl-ca.crt", "-subj", "/CN=openssl CA", "-days", "2")
	run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "ossl-client.key", "-out", "ossl-client.csr", "-subj", "/CN=web1")
	os.WriteFile(p("client.ext"), []byte("extendedKeyUsage=clientAuth\n"), 0o644)
	run("x509", "-req", "-in", "ossl-client.csr", "-CA", "ossl-ca.crt", "-CAkey", "ossl-ca.key", "-CAcreateserial",
		"-days", "2", "-extfile", "client.ext", "-out", "ossl-client.crt")
	os.Chmod(p("ossl-ca.key"), 0o600)
	os.Chmod(p("ossl-client.key"), 0o600)

	// Our server, trusting the openssl CA for clients; an openssl client.
	caPair, ca := newCA(t, "ca")
	srv, _ := ca.Issue(Leaf{Name: "sink1", Usage: Server, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
	files(t, dir, map[string]*Pair{"ca": caPair, "sink1": srv})
	cfg, err := ServerConfig(p("sink1.crt"), p("sink1.key"), p("ossl-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ccfg, err := ClientConfig(p("ossl-client.crt"), p("ossl-client.key"), p("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	st, cerr, serr := handshake(t, cfg, ccfg)
	if cerr != nil || serr != nil || st.VerifiedChains[0][0].Subject.CommonName != "web1" {
		t.Fatalf("openssl client: client %v, server %v", cerr, serr)
	}

	// The openssl CA issues through this package; openssl verifies it.
	oca, err := LoadAuthority(p("ossl-ca.crt"), p("ossl-ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := oca.Issue(Leaf{Name: "board2", Usage: Client}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	files(t, dir, map[string]*Pair{"board2": leaf})
	run("verify", "-CAfile", "ossl-ca.crt", "-purpose", "sslclient", "board2.crt")
	run("verify", "-CAfile", "ca.crt", "-purpose", "sslserver", "sink1.crt")
	// openssl reads our keys.
	run("pkey", "-in", "sink1.key", "-noout")
}
