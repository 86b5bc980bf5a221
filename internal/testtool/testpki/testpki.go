// Package testpki writes certificate folders for tests that run TLS
// listeners and clients. It is apart from testtool because it imports
// tlsca, whose own tests import testtool.
package testpki

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/tlsca"
)

// Cert is a certificate to issue: Leaf, signed by the CA named By.
type Cert struct {
	By   string
	Leaf tlsca.Leaf
}

// Server is a server certificate named name for 127.0.0.1, from the CA by.
func Server(by, name string) Cert {
	return Cert{by, tlsca.Leaf{Name: name, Usage: tlsca.Server, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}}
}

// Client is a client certificate named name, from the CA by.
func Client(by, name string) Cert {
	return Cert{by, tlsca.Leaf{Name: name, Usage: tlsca.Client}}
}

// Write writes into dir NAME.crt and NAME.key for each CA named in cas
// (its own name, valid for an hour), and BASE.crt and BASE.key for each
// certificate in certs. Keys are 0600, certificates 0644.
func Write(tb testing.TB, dir string, cas []string, certs map[string]Cert) {
	tb.Helper()
	now := time.Now()
	write := func(base string, p *tlsca.Pair) {
		tb.Helper()
		if err := os.WriteFile(filepath.Join(dir, base+".crt"), p.Cert, 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, base+".key"), p.Key, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	authorities := make(map[string]*tlsca.Authority, len(cas))
	for _, name := range cas {
		p, err := tlsca.NewCA(name, time.Hour, now)
		if err != nil {
			tb.Fatal(err)
		}
		write(name, p)
		if authorities[name], err = tlsca.ParseAuthority(p.Cert, p.Key); err != nil {
			tb.Fatal(err)
		}
	}
	for base, c := range certs {
		a := authorities[c.By]
		if a == nil {
			tb.Fatalf("testpki: %s is from %q, which is not among the CAs %q", base, c.By, cas)
		}
		p, err := a.Issue(c.Leaf, now)
		if err != nil {
			tb.Fatal(err)
		}
		write(base, p)
	}
}
