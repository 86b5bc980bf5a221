package sink

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and limits of the HTTPS listener.
const (
	// DefaultHTTPSMaxConns bounds the HTTPS connections served at once.
	DefaultHTTPSMaxConns = 256
	// DefaultHTTPSConnsPerAddress bounds the HTTPS connections served at
	// once from one IPv4 address or one IPv6 /64 (what one host, or one
	// customer of a provider, usually holds).
	DefaultHTTPSConnsPerAddress = 8

	// DefaultRequestsPerSecond and DefaultRequestBurst shape each client's
	// requests: a board pushes a packet every few hours, a server pulls
	// bytes daily; a program asking for integers may ask often, but
	// never needs more than this from one sink.
	DefaultRequestsPerSecond = 5
	DefaultRequestBurst      = 20

	// DefaultBytesPerDay is a client's budget of random bytes, refilled
	// over 24 hours: a thousand 1 KB seeds a day.
	DefaultBytesPerDay = 1 << 20

	// MaxRandomBytes bounds one /v1/random answer; DefaultRandomBytes is
	// its size when the request does not say (a 256-bit key).
	MaxRandomBytes     = 1 << 16
	DefaultRandomBytes = 32

	// The TLS handshake is bounded by the shortest of the read-header,
	// read and write timeouts (net/http). A handshake with certificates
	// both ways is about 3 KB: 10 s at a hotspot's 300 B/s, more when a
	// board sends to several sinks at once over that link. So the
	// handshake, the headers and the body all get the sink's ReadTimeout
	// (HTTPSOptions.ReadTimeout, default 60 s), as a frame on the TCP
	// listener does; the answer gets httpsWriteTimeout beyond it.
	httpsWriteTimeout = 30 * time.Second
	// httpsIdleTimeout bounds a kept-alive connection between requests; it
	// holds one of its address's connections meanwhile.
	httpsIdleTimeout = 30 * time.Second
	// httpsMaxHeaderBytes: request headers here are a few hundred bytes.
	httpsMaxHeaderBytes = 8 << 10

	// retryUnavailable and retryBusy are the Retry-After of 503 answers to
	// a packet the sink could not store or feed, and to one it was too
	// busy for.
	retryUnavailable = 60 * time.Second
	retryBusy        = 10 * time.Second
)

// HTTPSConfig is the sink's optional HTTPS listener: sink.json's "HTTPS".
// TLS 1.3 only; every client presents a certificate that chains to
// ClientCA, and its common name is its name in Clients. Relative file
// names are relative to the configuration file's folder.
type HTTPSConfig struct {
	Address  string // listen address, host:port
	Cert     string // PEM certificate (chain) the listener presents
	Key      string // its PEM private key; mode 0600
	ClientCA string // PEM CA certificates that client certificates must chain to
	// Clients maps a client certificate's common name to what it may do.
	Clients map[string]ClientRights
	// MaxConns bounds the connections served at once; 0 means
	// DefaultHTTPSMaxConns.
	MaxConns int `json:",omitempty"`
	// MaxConnsPerAddress bounds the connections served at once from one
	// IPv4 address or IPv6 /64; 0 means DefaultHTTPSConnsPerAddress.
	MaxConnsPerAddress int `json:",omitempty"`
}

// ClientRights is what one HTTPS client may do. At least one of Push and
// Random is set.
type ClientRights struct {
	Push   bool `json:",omitempty"` // POST /v1/packet
	Random bool `json:",omitempty"` // GET /v1/random, /v1/int, /v1/bool, /v1/uuid
	// BytesPerDay is the client's budget of random bytes: it may take up
	// to that many at once, and the budget refills at that many per 24
	// hours. 0 means DefaultBytesPerDay.
	BytesPerDay int `json:",omitempty"`
	// RequestsPerSecond and RequestBurst shape all the client's requests
	// (a token bucket); 0 means DefaultRequestsPerSecond and
	// DefaultRequestBurst.
	RequestsPerSecond float64 `json:",omitempty"`
	RequestBurst      int     `json:",omitempty"`
}

// httpsSettings is an HTTPSConfig checked, its defaults applied and its
// files resolved.
type httpsSettings struct {
	address                string
	cert, key, clientCA    string
	clients                map[string]ClientRights
	maxConns, connsPerAddr int
}

// Validate reports the first problem with c that would stop the HTTPS
// listener from starting, resolving relative file names against dir (the
// configuration file's folder). The files must exist; NewHTTPSServer reads
// them.
func (c *HTTPSConfig) Validate(dir string) error {
	_, err := c.settings(dir, true)
	return err
}

// settings checks c and resolves its file names against dir; with stat,
// the files must exist.
func (c *HTTPSConfig) settings(dir string, stat bool) (*httpsSettings, error) {
	const f = "HTTPS."
	if c.Address == "" {
		return nil, &ConfigError{Field: f + "Address", Err: errMissing}
	}
	_, port, err := net.SplitHostPort(c.Address)
	if err != nil {
		return nil, fieldErr(f+"Address", "%q is not host:port", c.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > math.MaxUint16 {
		return nil, fieldErr(f+"Address", "port %q, want 1 to 65535", port)
	}
	s := &httpsSettings{address: c.Address, clients: c.Clients}
	for _, file := range []struct {
		field, name string
		to          *string
	}{{"Cert", c.Cert, &s.cert}, {"Key", c.Key, &s.key}, {"ClientCA", c.ClientCA, &s.clientCA}} {
		if file.name == "" {
			return nil, &ConfigError{Field: f + file.field, Err: errMissing}
		}
		p := file.name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if _, err := os.Stat(p); err != nil && stat {
			return nil, &ConfigError{Field: f + file.field, Err: err}
		}
		*file.to = p
	}
	if len(c.Clients) == 0 {
		return nil, &ConfigError{Field: f + "Clients", Err: fmt.Errorf("%w: no client may use the listener", errMissing)}
	}
	names := make([]string, 0, len(c.Clients))
	for n := range c.Clients {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := c.Clients[n]
		field := fmt.Sprintf("%sClients[%q]", f, n)
		switch {
		case n == "":
			return nil, fieldErr(f+"Clients", "a client with an empty name")
		case !r.Push && !r.Random:
			return nil, fieldErr(field, "no rights: set Push, Random or both")
		case r.BytesPerDay < 0:
			return nil, fieldErr(field+".BytesPerDay", "%d is negative", r.BytesPerDay)
		case r.BytesPerDay > 0 && !r.Random:
			return nil, fieldErr(field+".BytesPerDay", "set without Random")
		case r.RequestsPerSecond < 0 || math.IsNaN(r.RequestsPerSecond) || math.IsInf(r.RequestsPerSecond, 0):
			return nil, fieldErr(field+".RequestsPerSecond", "%v, want a positive number", r.RequestsPerSecond)
		case r.RequestBurst < 0:
			return nil, fieldErr(field+".RequestBurst", "%d is negative", r.RequestBurst)
		}
	}
	if c.MaxConns < 0 {
		return nil, fieldErr(f+"MaxConns", "%d is negative", c.MaxConns)
	}
	if c.MaxConnsPerAddress < 0 {
		return nil, fieldErr(f+"MaxConnsPerAddress", "%d is negative", c.MaxConnsPerAddress)
	}
	s.maxConns = cmpDefault(c.MaxConns, DefaultHTTPSMaxConns)
	s.connsPerAddr = cmpDefault(c.MaxConnsPerAddress, DefaultHTTPSConnsPerAddress)
	return s, nil
}

// AcceptFunc applies the sink's acceptance steps to one frame payload (the
// frame without its length) and returns the status httpsReply and its value
// (PROTOCOL.md), with the detail of a rejection for the log.
type AcceptFunc func(ctx context.Context, payload []byte) (status packet.Status, value int64, err error)

// HTTPSOptions are what an HTTPSServer takes besides its configuration.
type HTTPSOptions struct {
	// Accept takes the payloads POSTed to /v1/packet. It is required when
	// a client has the Push right.
	Accept AcceptFunc
	// MaxFrame bounds a POSTed payload; 0 means packet.DefaultMaxFrame.
	MaxFrame int
	// ReadTimeout bounds the TLS handshake, the request's headers and its
	// body, from the connection's accept; 0 means 60 s.
	ReadTimeout time.Duration
	// Random is where random answers come from; nil means crypto/rand,
	// the kernel's CRNG (getrandom), which the sink feeds.
	Random io.Reader
	// Now is the clock the request and byte budgets run on.
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer takes the listener's metrics; nil keeps them in a
	// registry of their own.
	Registerer prometheus.Registerer
}

// HTTPSOptions returns the options that make an HTTPSServer part of s:
// POSTed packets go through s's acceptance path, against its counters
// (a packet accepted over one listener is a replay over the other), with
// its MaxFrame, clock and logger, and the listener's metrics join s's.
func (s *Server) HTTPSOptions() HTTPSOptions {
	k := s.current().k // a reload does not change the HTTPS listener's limits
	return HTTPSOptions{
		Accept:      s.acceptHTTPS,
		MaxFrame:    k.maxFrame,
		ReadTimeout: k.readTimeout,
		Now:         s.now,
		Logger:      s.log,
		Registerer:  s.m.reg,
	}
}

// HTTPSServer is the sink's HTTPS listener: packets POSTed by sources, and
// random bytes, integers, booleans and UUIDs for authorised clients.
type HTTPSServer struct {
	set      *httpsSettings
	tls      *tls.Config
	api      *httpsAPI
	srv      *http.Server
	sessions *sessionStore
}

// NewHTTPSServer checks c, loads its certificates and keys (relative names
// resolved against dir) and returns a server ready to Serve.
func NewHTTPSServer(c *HTTPSConfig, dir string, o HTTPSOptions) (*HTTPSServer, error) {
	set, err := c.settings(dir, true)
	if err != nil {
		return nil, err
	}
	tc, err := tlsca.ServerConfig(set.cert, set.key, set.clientCA)
	if err != nil {
		return nil, fmt.Errorf("loading the HTTPS certificates: %w", err)
	}
	if o.Accept == nil {
		for _, n := range slices.Sorted(maps.Keys(set.clients)) { // the same name every time
			if set.clients[n].Push {
				return nil, fmt.Errorf("sink: HTTPS client %q may push, but the listener was given no way to accept packets", n)
			}
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = packet.DefaultMaxFrame
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	m, err := newHTTPSMetrics(o.Registerer, set.clients)
	if err != nil {
		return nil, err
	}
	sessions := newSessionStore(set.clients, o.Now)
	sessions.install(tc)
	api := newHTTPSAPI(set.clients, o, m)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: o.ReadTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.ReadTimeout + httpsWriteTimeout,
		IdleTimeout:       httpsIdleTimeout,
		MaxHeaderBytes:    httpsMaxHeaderBytes,
		Protocols:         p,
		// Failed handshakes from anyone on the internet are noise, not
		// news: debug level.
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	return &HTTPSServer{set: set, tls: tc, api: api, srv: srv, sessions: sessions}, nil
}

// Serve serves HTTPS on l, a plain TCP listener: it bounds the connections
// per address and in all, then does TLS. It returns ErrServerClosed after
// Shutdown.
func (s *HTTPSServer) Serve(l net.Listener) error {
	capped := newConnLimiter(l, s.set.maxConns, s.set.connsPerAddr, s.api.m.refused, s.api.m.open)
	return serveHTTP(s.srv, tls.NewListener(capped, s.tls))
}

// Shutdown stops accepting, waits for requests in flight until ctx is
// done, then closes the connections left; it returns ctx's error if it
// had to.
func (s *HTTPSServer) Shutdown(ctx context.Context) error {
	return shutdownHTTP(ctx, s.srv)
}
