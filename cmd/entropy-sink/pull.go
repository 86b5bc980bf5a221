package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/sink"
	"github.com/spf13/cobra"
)

const (
	defaultPullBytes   = 64
	defaultPullTimeout = 60 * time.Second
	// maxErrorBody bounds what is read of a refusal's JSON.
	maxErrorBody = 4 << 10
)

func newPullCommand() *cobra.Command {
	var (
		from, certFile, keyFile, caFile, pool string
		n, credit                             int
		timeout                               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "pull --from URL --cert FILE --key FILE --ca FILE [--bytes N] [--credit BITS] [--pool kernel|file:PATH]",
		Short: "Fetch random bytes from a sink's HTTPS listener and feed the local pool",
		Long: `pull fetches N random bytes from another sink's HTTPS listener
(GET /v1/random?format=raw), presenting a client certificate, and feeds
them to this machine's pool: the kernel's (RNDADDENTROPY, crediting
--credit bits, then RNDRESEEDCRNG) or a file.

The bytes come from the other machine's kernel CRNG over an authenticated
channel. By default they are mixed in without credit (--credit 0): credit
them only as far as you trust that machine and its sources. Crediting
needs CAP_SYS_ADMIN; without it the bytes are written to /dev/random,
mixed in and not credited, and a warning says so.

The key file must be readable by its owner only. Nothing is fed unless
the whole answer arrived; a failure changes nothing and says why.

Exit status:
  0  the bytes were fed
  1  failure: network or TLS error, the server refused (403, 429, ...),
     a short answer, the pool could not be opened or fed
  2  usage or configuration error (bad flag, certificate, key or CA file
     unreadable, too open or not PEM)`,
		Example: `  entropy-sink pull --from https://sink1.example.net:8443 --cert web1.crt --key web1.key --ca sinks-ca.crt
  entropy-sink pull --from https://sink1.example.net:8443 --cert web1.crt --key web1.key --ca sinks-ca.crt --bytes 256 --credit 512
  entropy-sink pull --from https://192.0.2.10:8443 --cert web1.crt --key web1.key --ca sinks-ca.crt --pool file:/tmp/pool.bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			endpoint, err := pullURL(from, n)
			if err != nil {
				return err
			}
			if credit < 0 || credit > 8*n {
				return cli.Usagef("--credit %d: want 0 to %d bits (8 per byte pulled)", credit, 8*n)
			}
			kernel, path, err := parsePool(pool)
			if err != nil {
				return err
			}
			if certFile == "" || keyFile == "" || caFile == "" {
				return cli.Usagef("--cert, --key and --ca are required")
			}
			tc, err := tlsca.ClientConfig(certFile, keyFile, caFile)
			if err != nil {
				if errors.Is(err, keys.ErrPermissions) {
					err = cli.Hint(err, "a private key must be readable by its owner only")
				}
				return cli.Usage(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			buf, err := fetch(ctx, tc, endpoint, n)
			if err != nil {
				return err
			}
			defer clear(buf)

			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			where := "the kernel pool"
			if !kernel {
				where = path
			}
			p, err := sink.OpenPool(pool, credit, true, logger)
			if err != nil {
				return err
			}
			credited, err := p.Feed(buf)
			if err != nil {
				p.Close()
				return err
			}
			if err := p.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "entropy-sink: fed %d bytes from %s to %s, crediting %d bits\n", n, endpoint.Host, where, credited)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the sink's HTTPS address, https://HOST:PORT")
	f.StringVar(&certFile, "cert", "", "this client's certificate (PEM)")
	f.StringVar(&keyFile, "key", "", "this client's private key (PEM, mode 0600)")
	f.StringVar(&caFile, "ca", "", "the CA certificates that sink certificates are issued by (PEM)")
	f.IntVar(&n, "bytes", defaultPullBytes, fmt.Sprintf("bytes to fetch, 1 to %d", sink.MaxRandomBytes))
	f.IntVar(&credit, "credit", 0, "bits of entropy to credit the kernel pool with (0: mix only)")
	f.StringVar(&pool, "pool", "kernel", `where the bytes go: "kernel" or "file:PATH"`)
	f.DurationVar(&timeout, "timeout", defaultPullTimeout, "give up on the sink after this long")
	cmd.RegisterFlagCompletionFunc("pool", cli.CompletePool)
	return cmd
}

// pullURL checks --from and --bytes and returns the request's URL. A path
// in --from is kept as a prefix (a sink behind a reverse proxy).
func pullURL(from string, n int) (*url.URL, error) {
	if from == "" {
		return nil, cli.Usagef("no --from (the sink's https://HOST:PORT)")
	}
	u, err := url.Parse(from)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, cli.Usagef("--from %q: want https://HOST[:PORT]", from)
	}
	if n < 1 || n > sink.MaxRandomBytes {
		return nil, cli.Usagef("--bytes %d: want 1 to %d", n, sink.MaxRandomBytes)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/random"
	u.RawPath = ""
	u.RawQuery = url.Values{"bytes": {strconv.Itoa(n)}, "format": {"raw"}}.Encode()
	return u, nil
}

// parsePool reads --pool, which has the syntax of a sink configuration's
// Pool.
func parsePool(s string) (kernel bool, path string, err error) {
	switch {
	case s == "kernel":
		return true, "", nil
	case strings.HasPrefix(s, "file:") && len(s) > len("file:"):
		return false, strings.TrimPrefix(s, "file:"), nil
	}
	return false, "", cli.Usagef("--pool %q: want \"kernel\" or \"file:PATH\"", s)
}

// fetch GETs u with the client configuration tc and returns the n bytes
// it answers, or says why not.
func fetch(ctx context.Context, tc *tls.Config, u *url.URL, n int) ([]byte, error) {
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		// A sink never redirects; a redirect is an answer that is not the bytes.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, cli.Usage(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ua x509.UnknownAuthorityError
		var op *net.OpError
		switch {
		case errors.As(err, &ua):
			err = cli.Hint(err, "--ca must hold the CA that issued the sink's certificate")
		case errors.As(err, &op) && op.Op == "remote error":
			err = cli.Hint(err, "the sink refused this client's certificate: its HTTPS.ClientCA must hold the CA that issued it")
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, refusal(resp, clientName(tc))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/octet-stream" {
		return nil, fmt.Errorf("%s answered %q, not random bytes", u.Host, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, n)
	if got, err := io.ReadFull(resp.Body, buf); err != nil {
		clear(buf)
		return nil, fmt.Errorf("%s answered %d of %d bytes: %w", u.Host, got, n, err)
	}
	if more, _ := resp.Body.Read(make([]byte, 1)); more > 0 {
		clear(buf)
		return nil, fmt.Errorf("%s answered more than the %d bytes asked for", u.Host, n)
	}
	return buf, nil
}

// refusal describes a sink's answer other than 200, from its JSON error.
func refusal(resp *http.Response, name string) error {
	var r struct{ Error, Status string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &r) == nil && r.Error != "" {
		msg = r.Status + ": " + r.Error
	}
	err := fmt.Errorf("%s answered %s: %s", resp.Request.URL.Host, resp.Status, msg)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		err = fmt.Errorf("%w (retry after %s s)", err, ra)
	}
	switch r.Status {
	case "unauthorised":
		return cli.Hint(err, fmt.Sprintf("list %q in the sink's HTTPS.Clients", name))
	case "forbidden":
		return cli.Hint(err, fmt.Sprintf("give %q the Random right in the sink's HTTPS.Clients", name))
	}
	return err
}

// clientName is the common name of tc's client certificate.
func clientName(tc *tls.Config) string {
	if len(tc.Certificates) == 0 || tc.Certificates[0].Leaf == nil {
		return ""
	}
	return tc.Certificates[0].Leaf.Subject.CommonName
}
