package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/entropyshare/entropyshare/internal/privfile"
)

// maxCertFile bounds what a certificate loader reads: a bundle of a few
// dozen CA certificates is well under it.
const maxCertFile = 1 << 20

// ServerConfig is the TLS configuration of a sink's HTTPS listener: TLS 1.3
// only, presenting the certificate in certFile (with any intermediates
// after it) and the key in keyFile, and requiring a client certificate that
// chains to one of the CA certificates in clientCAFile.
func ServerConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadPool(clientCAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// ClientConfig is the TLS configuration of a client of a sink's HTTPS
// listener: TLS 1.3, presenting the client certificate in certFile and the
// key in keyFile, and trusting only the CA certificates in caFile.
func ClientConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadPool(caFile)
	if err != nil {
		return nil, err
	}
	return ClientFor(cert, pool), nil
}

// ClientFor is the TLS configuration of a client of a sink's HTTPS listener
// that presents cert and trusts only roots: TLS 1.3.
func ClientFor(cert tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
	}
}

// LoadKeyPair reads a PEM certificate chain and its PEM private key (PKCS
// #8, SEC 1 or PKCS #1, as openssl or NewCA and Issue write them). The key
// file is refused when group or others can read it, as every private key
// is (privfile.PermissionError says which chmod fixes it).
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readCertFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := privfile.Read(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsca: reading private key: %w", err)
	}
	defer clear(keyPEM)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsca: %s and %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// LoadAuthority reads a CA's PEM certificate and private key from files,
// the key file with the same permission check as LoadKeyPair's.
func LoadAuthority(certFile, keyFile string) (*Authority, error) {
	certPEM, err := readCertFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := privfile.Read(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsca: reading CA private key: %w", err)
	}
	defer clear(keyPEM)
	a, err := parseAuthority(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %s and %s: %w", certFile, keyFile, err)
	}
	return a, nil
}

// LoadPool reads a bundle of PEM CA certificates. Every block must be a
// certificate that parses, and there must be one at least: a typo in a CA
// file fails here rather than as a handshake that trusts nobody.
func LoadPool(file string) (*x509.CertPool, error) {
	data, err := readCertFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("tlsca: %s: PEM block %d is %q, want \"CERTIFICATE\"", file, n+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsca: %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tlsca: %s: no PEM certificate", file)
	}
	return pool, nil
}

func readCertFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFile+1))
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	if len(data) > maxCertFile {
		return nil, fmt.Errorf("tlsca: %s: larger than %d bytes, not a certificate file", path, maxCertFile)
	}
	return data, nil
}
