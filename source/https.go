package source

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/packet"
)

// TLS is a source's client identity for https:// targets.
type TLS struct {
	// Certificate is the client certificate (with its private key)
	// presented to every https:// sink; its common name is the name the
	// sink's HTTPS.Clients lists, with the Push right.
	Certificate tls.Certificate
	// Roots are the CA certificates a sink's certificate must chain to,
	// unless its entry names a CA file of its own; nil: every https://
	// entry must.
	Roots *x509.CertPool
}

var (
	errNoClientCert = errors.New("https:// target, but no client certificate was given (entropy-source --tls-cert and --tls-key); nothing was sent and its counter did not move")
	errNoRoots      = errors.New("https:// target, but no CA for its certificate was given (entropy-source --tls-ca, or the entry's CA); nothing was sent and its counter did not move")
)

// httpsClient returns the TLS configuration t is sent with: the run's
// client certificate, the run's CAs or the entry's own, X25519 alone (see
// RATIONALE.md), and the stored session for t, if any, to resume. An error
// is a configuration error of t alone, found before anything is reserved.
func (c *Config) httpsClient(t *Target, sessions *sessionFile) (*tls.Config, error) {
	if c.TLS == nil || len(c.TLS.Certificate.Certificate) == 0 {
		return nil, errNoClientCert
	}
	roots := c.TLS.Roots
	if t.CA != "" {
		p := t.CA
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(c.Targets), p)
		}
		pool, err := tlsca.LoadPool(p)
		if err != nil {
			return nil, fmt.Errorf("the entry's CA: %w; nothing was sent and its counter did not move", err)
		}
		roots = pool
	}
	if roots == nil {
		return nil, errNoRoots
	}
	u, err := httpsURL(t.Address)
	if err != nil {
		return nil, err
	}
	tc := tlsca.ClientFor(c.TLS.Certificate, roots)
	tc.ServerName = u.Hostname()
	// The frame inside is sealed to the sink's X25519 key already: a
	// post-quantum key share (1.2 KB each way) would guard nothing more.
	tc.CurvePreferences = []tls.CurveID{tls.X25519}
	// One session per sink and client certificate: a new certificate
	// must not resume as the old one.
	sum := sha256.Sum256(c.TLS.Certificate.Certificate[0])
	tc.ClientSessionCache = sessions.scoped(t.Address + " " + hex.EncodeToString(sum[:8]))
	return tc, nil
}

// httpsAnswer is the sink's JSON answer to POST /v1/packet (PROTOCOL.md).
type httpsAnswer struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Stored *int64 `json:"stored"`
	Now    *int64 `json:"now"`
}

// maxAnswer bounds what is read of a sink's answer.
const maxAnswer = 4 << 10

// post sends payload to t's HTTPS listener, POST /v1/packet, on a new
// connection with tc, and turns the answer into a status reply. An answer
// that is no status reply (the sink does not know this client, a 429, an
// HTTP error) is an *httpsError.
func (r *run) post(ctx context.Context, t *Target, tc *tls.Config, payload []byte, res *Result) (packet.Status, int64, error) {
	u, _ := httpsURL(t.Address)
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	raw, done, err := r.dial(ctx, host)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		return 0, 0, tlsError(ctxErr(ctx, err), t)
	}
	res.Resumed = conn.ConnectionState().DidResume
	req, err := http.NewRequest(http.MethodPost, t.Address+"/v1/packet", bytes.NewReader(payload))
	if err != nil {
		return 0, 0, err
	}
	// Every byte crosses the board's link: no User-Agent, no
	// Accept-Encoding; one request, then close.
	req.Header["User-Agent"] = []string{""}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Close = true
	if err := req.Write(conn); err != nil {
		return 0, 0, tlsError(fmt.Errorf("sending: %w", ctxErr(ctx, alertAfter(conn, raw, err))), t)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, 0, tlsError(fmt.Errorf("reading the answer: %w", ctxErr(ctx, err)), t)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, 0, fmt.Errorf("reading the answer: %w", ctxErr(ctx, err))
	}
	var a httpsAnswer
	_ = json.Unmarshal(body, &a)
	if s, v, ok := statusOf(resp.StatusCode, a); ok {
		return s, v, nil
	}
	he := &httpsError{Code: resp.StatusCode, Status: a.Status, Text: a.Error, RetryAfter: resp.Header.Get("Retry-After")}
	if he.Text == "" && he.Status == "" {
		he.Text = strings.TrimSpace(string(body))
		if len(he.Text) > 200 {
			he.Text = he.Text[:200] + "..."
		}
	}
	if leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err == nil {
		he.Client = leaf.Subject.CommonName
	}
	return 0, 0, he
}

// statusOf maps an answer to /v1/packet to the status reply it stands for
// (PROTOCOL.md's table), when the HTTP status and the JSON agree.
func statusOf(code int, a httpsAnswer) (packet.Status, int64, bool) {
	switch {
	case code == http.StatusOK && a.Status == "accepted":
		return packet.StatusAccepted, 0, true
	case code == http.StatusForbidden && a.Status == "unverified":
		return packet.StatusUnverified, 0, true
	case code == http.StatusConflict && a.Status == "counter" && a.Stored != nil:
		return packet.StatusCounter, *a.Stored, true
	case code == http.StatusUnprocessableEntity && a.Status == "drift" && a.Now != nil:
		return packet.StatusDrift, *a.Now, true
	case code == http.StatusBadRequest && a.Status == "malformed":
		return packet.StatusMalformed, 0, true
	case code == http.StatusServiceUnavailable && a.Status == "unavailable":
		return packet.StatusUnavailable, 0, true
	case code == http.StatusServiceUnavailable && a.Status == "busy":
		return packet.StatusBusy, 0, true
	}
	return 0, 0, false
}

// httpsError is an HTTPS sink's answer that is no status reply.
type httpsError struct {
	Code       int
	Status     string // the JSON's status name, if any
	Text       string
	RetryAfter string
	Client     string // this source's certificate's name
}

func (e *httpsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sink answered HTTP %d", e.Code)
	if e.Status != "" {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	if e.Text != "" {
		b.WriteString(": " + e.Text)
	}
	if e.RetryAfter != "" {
		fmt.Fprintf(&b, "; retry after %s s", e.RetryAfter)
	}
	switch e.Status {
	case "unauthorised":
		fmt.Fprintf(&b, "; list %q in the sink's HTTPS.Clients", e.Client)
	case "forbidden":
		fmt.Fprintf(&b, "; give %q the Push right in the sink's HTTPS.Clients", e.Client)
	}
	return b.String()
}

// alertAfter returns the alert the sink sent, if it sent one before it
// closed the connection that err failed to write to, or else err. In TLS
// 1.3 a client learns that the sink refused its certificate only after
// its side of the handshake is done: by then it may be writing.
func alertAfter(conn *tls.Conn, raw net.Conn, err error) error {
	raw.SetReadDeadline(time.Now().Add(alertWait))
	var b [1]byte
	_, rerr := conn.Read(b[:])
	var op *net.OpError
	if errors.As(rerr, &op) && op.Op == "remote error" {
		return rerr
	}
	return err
}

// alertWait bounds alertAfter's look for an alert already received.
const alertWait = time.Second

// tlsError says in words what a failed TLS exchange with t means.
func tlsError(err error, t *Target) error {
	ca := "the run's CA (--tls-ca)"
	if t.CA != "" {
		ca = "the entry's CA (" + strconv.Quote(t.CA) + ")"
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var op *net.OpError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("TLS: the sink's certificate is not issued by %s: %w", ca, err)
	case errors.As(err, &he):
		return fmt.Errorf("TLS: the sink's certificate is not for this Address's host: %w", err)
	case errors.As(err, &ie):
		return fmt.Errorf("TLS: the sink's certificate is not valid: %w", err)
	case errors.As(err, &op) && op.Op == "remote error":
		return fmt.Errorf("TLS: the sink refused this source's client certificate (its HTTPS.ClientCA must hold the CA that issued it, and it must not have expired): %w", err)
	}
	return err
}
