// Package tlsca makes and loads the certificates of a sink's HTTPS listener
// and its clients, and the TLS configurations both ends use.
package tlsca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Validity defaults. Replacing a CA means issuing every certificate again
// and carrying it to boards on weak links, so a CA lasts ten years. A leaf
// lasts two: under the 825 days Apple's TLS clients accept for a server
// certificate from any CA, private ones included, and short enough that a
// forgotten client's certificate runs out (nothing here publishes
// revocations; removing a client from the sink's Clients revokes its rights
// at once).
const (
	DefaultCAValidity   = 3650 * 24 * time.Hour
	DefaultLeafValidity = 730 * 24 * time.Hour

	// backdate starts a certificate's validity a little before now, so a
	// peer whose clock is a few minutes behind accepts it at once.
	backdate = 5 * time.Minute

	// maxName is X.509's upper bound on a common name (ub-common-name).
	maxName = 64
)

// Usage says what a leaf certificate proves.
type Usage int

const (
	// Server certificates name the host clients connect to (DNS or IP).
	Server Usage = iota + 1
	// Client certificates name the client by their common name alone.
	Client
)

func (u Usage) String() string {
	switch u {
	case Server:
		return "server"
	case Client:
		return "client"
	}
	return fmt.Sprintf("usage(%d)", int(u))
}

// Leaf describes a certificate to issue.
type Leaf struct {
	Name     string        // subject common name; a client's identity at the sink
	Usage    Usage         // Server or Client
	DNSNames []string      // a server's host names
	IPs      []net.IP      // a server's addresses
	Validity time.Duration // 0 means DefaultLeafValidity
}

// Pair is a certificate and its private key, both PEM: "CERTIFICATE" and
// "PRIVATE KEY" (PKCS #8), as openssl writes them.
type Pair struct {
	Cert []byte
	Key  []byte
}

// Authority is a CA that issues leaf certificates.
type Authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// Certificate returns the CA's certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// NewCA makes a self-signed CA named name (its subject common name), valid
// from now for validity (0: DefaultCAValidity), with a new ECDSA P-256 key.
// It may sign leaf certificates only (path length 0).
func NewCA(name string, validity time.Duration, now time.Time) (*Pair, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("tlsca: validity %s is negative", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: generating the CA key: %w", err)
	}
	tmpl, err := template(name, now, validity, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: signing the CA certificate: %w", err)
	}
	return encodePair(der, key)
}

// ParseAuthority reads a CA from its PEM certificate and private key. Any
// CA certificate with a key Go can sign with works, openssl's included.
func ParseAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	a, err := parseAuthority(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	return a, nil
}

func parseAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	cert := kp.Leaf
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("%q is not a CA certificate (no basic constraints CA:TRUE)", cert.Subject.CommonName)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("CA %q may not sign certificates (key usage lacks keyCertSign)", cert.Subject.CommonName)
	}
	signer, ok := kp.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key of type %T cannot sign", kp.PrivateKey)
	}
	return &Authority{cert: cert, key: signer}, nil
}

// Issue makes a leaf certificate and its new ECDSA P-256 key, signed by a.
// Its validity ends no later than the CA's.
func (a *Authority) Issue(l Leaf, now time.Time) (*Pair, error) {
	if err := checkName(l.Name); err != nil {
		return nil, err
	}
	validity := l.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("tlsca: validity %s is negative", validity)
	}
	for _, d := range l.DNSNames {
		if err := checkDNSName(d); err != nil {
			return nil, err
		}
	}
	if !now.Before(a.cert.NotAfter) {
		return nil, fmt.Errorf("tlsca: CA %q expired on %s", a.cert.Subject.CommonName, a.cert.NotAfter.UTC().Format(time.DateOnly))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: generating the key: %w", err)
	}
	tmpl, err := template(l.Name, now, validity, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	switch l.Usage {
	case Server:
		if len(l.DNSNames) == 0 && len(l.IPs) == 0 {
			return nil, errors.New("tlsca: a server certificate needs a DNS name or an IP address")
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = l.DNSNames
		tmpl.IPAddresses = l.IPs
	case Client:
		if len(l.DNSNames) > 0 || len(l.IPs) > 0 {
			return nil, errors.New("tlsca: a client certificate is named by its common name alone, not by DNS names or IP addresses")
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("tlsca: unknown certificate usage %d", int(l.Usage))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: signing the certificate: %w", err)
	}
	return encodePair(der, key)
}

// template is what CA and leaf certificates share: a random 128-bit serial
// number, the subject, the validity and a key identifier.
func template(name string, now time.Time, validity time.Duration, pub *ecdsa.PublicKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsca: serial number: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	// RFC 7093 method 1: the leftmost 160 bits of the SHA-256 of the key.
	ski := sha256.Sum256(pubDER)
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-backdate).UTC(),
		NotAfter:     now.Add(validity).UTC(),
		SubjectKeyId: ski[:20],
	}, nil
}

func encodePair(der []byte, key *ecdsa.PrivateKey) (*Pair, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	defer clear(keyDER)
	return &Pair{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// checkName accepts a common name that logs, metrics and the sink's
// Clients keys can carry as they are: 1 to 64 printable characters.
func checkName(name string) error {
	if name == "" {
		return errors.New("tlsca: no name")
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxName {
		return fmt.Errorf("tlsca: name %q is not 1 to %d characters of UTF-8", name, maxName)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("tlsca: name %q holds an unprintable character", name)
		}
	}
	return nil
}

// checkDNSName catches the slips a DNS name flag invites (a URL, a port,
// a space); crypto/x509 checks the rest.
func checkDNSName(d string) error {
	if d == "" || strings.ContainsAny(d, " /:@") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return fmt.Errorf("tlsca: %q is not a DNS name (want a host name such as sink1.example.net)", d)
	}
	return nil
}
