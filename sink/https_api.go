package sink

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/entropyshare/entropyshare/packet"
	"golang.org/x/time/rate"
)

// httpsAPI answers the HTTPS listener's requests. It takes every
// dependency explicitly, so it knows nothing of the TCP server.
type httpsAPI struct {
	clients  map[string]*httpsClient
	accept   AcceptFunc
	maxFrame int
	random   io.Reader
	now      func() time.Time
	log      *slog.Logger
	m        *httpsMetrics
}

// httpsClient is one client's rights and budgets. The budgets live in
// memory: a restart refills them.
type httpsClient struct {
	name     string
	rights   ClientRights
	requests *rate.Limiter // requests
	bytes    *rate.Limiter // random bytes
}

func newHTTPSAPI(clients map[string]ClientRights, o HTTPSOptions, m *httpsMetrics) *httpsAPI {
	a := &httpsAPI{
		clients:  make(map[string]*httpsClient, len(clients)),
		accept:   o.Accept,
		maxFrame: o.MaxFrame,
		random:   o.Random,
		now:      o.Now,
		log:      o.Logger,
		m:        m,
	}
	for name, r := range clients {
		rps := r.RequestsPerSecond
		if rps == 0 {
			rps = DefaultRequestsPerSecond
		}
		perDay := cmpDefault(r.BytesPerDay, DefaultBytesPerDay)
		a.clients[name] = &httpsClient{
			name:     name,
			rights:   r,
			requests: rate.NewLimiter(rate.Limit(rps), cmpDefault(r.RequestBurst, DefaultRequestBurst)),
			bytes:    rate.NewLimiter(rate.Limit(float64(perDay)/(24*60*60)), perDay),
		}
	}
	return a
}

// httpsEndpoint is one path of the API.
type httpsEndpoint struct {
	name   string // its metrics label
	method string
	random bool // needs the Random right; otherwise Push
	serve  func(a *httpsAPI, x *httpsExchange)
}

var httpsEndpoints = map[string]httpsEndpoint{
	"/v1/packet": {"packet", http.MethodPost, false, (*httpsAPI).push},
	"/v1/random": {"random", http.MethodGet, true, (*httpsAPI).randomBytes},
	"/v1/int":    {"int", http.MethodGet, true, (*httpsAPI).randomInt},
	"/v1/bool":   {"bool", http.MethodGet, true, (*httpsAPI).randomBool},
	"/v1/uuid":   {"uuid", http.MethodGet, true, (*httpsAPI).randomUUID},
}

// httpsExchange is one request on its way through the API, and what its log
// line and metrics say about it.
type httpsExchange struct {
	w        http.ResponseWriter
	r        *http.Request
	start    time.Time // for durations; now is the budgets' clock
	now      time.Time
	name     string       // the certificate's common name
	client   *httpsClient // nil unless listed
	endpoint string       // metrics label; "other" for unknown paths
	code     int
	served   int   // random bytes in the answer
	attrs    []any // more for the log line
}

// httpsReply is every JSON answer: an error, a packet's status, or a value.
type httpsReply struct {
	Error  string `json:"error,omitempty"`
	Status string `json:"status,omitempty"`
	Stored *int64 `json:"stored,omitempty"`
	Now    *int64 `json:"now,omitempty"`
	Value  any    `json:"value,omitempty"`
}

// Error statuses of the API's own, beside the packet statuses
// (packet.Status names) that /v1/packet answers with.
const (
	statusUnauthorised = "unauthorised" // certificate not in Clients
	statusForbidden    = "forbidden"    // listed, without the right
	statusNotFound     = "not-found"
	statusMethod       = "method"
	statusBadRequest   = "bad-request"
	statusTooLarge     = "too-large"
	statusMediaType    = "media-type"
	statusRate         = "rate" // request bucket empty
	statusBudget       = "budget"
	statusInternal     = "internal"
)

func (a *httpsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &httpsExchange{w: w, r: r, start: start, now: a.now(), endpoint: "other"}
	// Every answer, random or not, is for this request alone.
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	defer a.record(x, start)

	x.name = peerName(r)
	x.client = a.clients[x.name]
	if x.client == nil {
		x.fail(http.StatusForbidden, statusUnauthorised, "client certificate is not one of this sink's clients")
		return
	}
	// Every request of a listed client counts, whatever becomes of it.
	if wait, ok := takeTokens(x.client.requests, x.now, 1); !ok {
		x.retryAfter(wait)
		x.fail(http.StatusTooManyRequests, statusRate, "too many requests")
		return
	}
	ep, ok := httpsEndpoints[r.URL.Path]
	if !ok {
		x.fail(http.StatusNotFound, statusNotFound, "no such endpoint")
		return
	}
	x.endpoint = ep.name
	if r.Method != ep.method {
		h.Set("Allow", ep.method)
		x.fail(http.StatusMethodNotAllowed, statusMethod, r.URL.Path+" takes "+ep.method)
		return
	}
	if (ep.random && !x.client.rights.Random) || (!ep.random && !x.client.rights.Push) {
		right := "Push"
		if ep.random {
			right = "Random"
		}
		x.fail(http.StatusForbidden, statusForbidden, "client lacks the "+right+" right")
		return
	}
	ep.serve(a, x)
}

// peerName is the common name of the verified client certificate, or ""
// (the listener requires one; a handler reached otherwise serves nobody).
func peerName(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

// takeTokens takes n tokens from l at now. When it cannot, it returns how long
// until it could, or 0 when it never can (n above the bucket's size).
func takeTokens(l *rate.Limiter, now time.Time, n int) (time.Duration, bool) {
	res := l.ReserveN(now, n)
	if !res.OK() {
		return 0, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// retryAfter sets Retry-After to d in whole seconds, rounded up; d <= 0
// sets none.
func (x *httpsExchange) retryAfter(d time.Duration) {
	if d > 0 {
		x.w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
}

func (x *httpsExchange) fail(code int, status, msg string) {
	x.json(code, httpsReply{Error: msg, Status: status})
}

func (x *httpsExchange) json(code int, v httpsReply) {
	x.code = code
	x.w.Header().Set("Content-Type", "application/json")
	x.w.WriteHeader(code)
	b, _ := json.Marshal(v) // always marshals
	x.w.Write(append(b, '\n'))
}

func (x *httpsExchange) body(code int, contentType string, b []byte) {
	x.code = code
	x.w.Header().Set("Content-Type", contentType)
	x.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	x.w.WriteHeader(code)
	x.w.Write(b)
}

// record logs one line and counts the request.
func (a *httpsAPI) record(x *httpsExchange, start time.Time) {
	label := ""
	if x.client != nil {
		label = x.client.name
	}
	a.m.requests.WithLabelValues(label, x.endpoint, strconv.Itoa(x.code)).Inc()
	if x.served > 0 {
		a.m.served.WithLabelValues(label).Add(float64(x.served))
	}
	attrs := []any{"client", x.name, "peer", x.r.RemoteAddr, "method", x.r.Method, "path", x.r.URL.Path}
	if x.r.URL.RawQuery != "" {
		attrs = append(attrs, "query", x.r.URL.RawQuery)
	}
	attrs = append(attrs, "code", x.code)
	if x.served > 0 {
		attrs = append(attrs, "bytes", x.served)
	}
	attrs = append(attrs, x.attrs...)
	a.log.Info("https", append(attrs, "duration", time.Since(start))...)
}

// query parses the request's query, refusing names other than those
// allowed and names given twice: a misspelt parameter is an error, not a
// default.
func (x *httpsExchange) query(allowed ...string) (url.Values, bool) {
	q, err := url.ParseQuery(x.r.URL.RawQuery)
	if err != nil {
		x.fail(http.StatusBadRequest, statusBadRequest, "query: "+err.Error())
		return nil, false
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			x.fail(http.StatusBadRequest, statusBadRequest, fmt.Sprintf("unknown parameter %q", k))
			return nil, false
		}
		if len(v) > 1 {
			x.fail(http.StatusBadRequest, statusBadRequest, fmt.Sprintf("parameter %q given %d times", k, len(v)))
			return nil, false
		}
	}
	return q, true
}

// charge takes n bytes from the client's budget. On failure it has
// answered.
func (x *httpsExchange) charge(n int) bool {
	wait, ok := takeTokens(x.client.bytes, x.now, n)
	switch {
	case ok:
		x.served = n
		return true
	case wait == 0:
		x.fail(http.StatusTooManyRequests, statusBudget,
			fmt.Sprintf("%d bytes is more than the daily budget of %d", n, x.client.bytes.Burst()))
	default:
		x.retryAfter(wait)
		x.fail(http.StatusTooManyRequests, statusBudget, "daily byte budget spent")
	}
	return false
}

// noRandom answers a failed read of the random source.
func (x *httpsExchange) noRandom(err error) {
	x.served = 0
	x.attrs = append(x.attrs, "error", err.Error())
	x.fail(http.StatusInternalServerError, statusInternal, "no random bytes")
}

// draw charges n bytes to the client's budget and reads them from the
// random source. On failure it has answered.
func (a *httpsAPI) draw(x *httpsExchange, n int) ([]byte, bool) {
	if !x.charge(n) {
		return nil, false
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(a.random, buf); err != nil {
		x.noRandom(err)
		return nil, false
	}
	return buf, true
}

// randomBytes: GET /v1/random?bytes=N&format=raw|hex|base64.
func (a *httpsAPI) randomBytes(x *httpsExchange) {
	q, ok := x.query("bytes", "format")
	if !ok {
		return
	}
	n := DefaultRandomBytes
	if s := q.Get("bytes"); q.Has("bytes") {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > MaxRandomBytes {
			x.fail(http.StatusBadRequest, statusBadRequest, fmt.Sprintf("bytes=%q, want 1 to %d", s, MaxRandomBytes))
			return
		}
		n = v
	}
	format := "raw"
	if q.Has("format") {
		format = q.Get("format")
	}
	if format != "raw" && format != "hex" && format != "base64" {
		x.fail(http.StatusBadRequest, statusBadRequest, fmt.Sprintf("format=%q, want raw, hex or base64", format))
		return
	}
	buf, ok := a.draw(x, n)
	if !ok {
		return
	}
	defer clear(buf)
	switch format {
	case "raw":
		x.body(http.StatusOK, "application/octet-stream", buf)
	case "hex":
		out := make([]byte, hex.EncodedLen(n)+1)
		hex.Encode(out, buf)
		out[len(out)-1] = '\n'
		x.body(http.StatusOK, "text/plain; charset=utf-8", out)
		clear(out)
	case "base64":
		out := make([]byte, base64.StdEncoding.EncodedLen(n)+1)
		base64.StdEncoding.Encode(out, buf)
		out[len(out)-1] = '\n'
		x.body(http.StatusOK, "text/plain; charset=utf-8", out)
		clear(out)
	}
}

// randomInt: GET /v1/int?min=A&max=B, uniform over [A, B].
func (a *httpsAPI) randomInt(x *httpsExchange) {
	q, ok := x.query("min", "max")
	if !ok {
		return
	}
	var bounds [2]int64
	for i, name := range []string{"min", "max"} {
		if !q.Has(name) {
			x.fail(http.StatusBadRequest, statusBadRequest, "missing parameter "+name)
			return
		}
		v, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil {
			x.fail(http.StatusBadRequest, statusBadRequest, fmt.Sprintf("%s=%q is not a 64-bit integer", name, q.Get(name)))
			return
		}
		bounds[i] = v
	}
	lo, hi := bounds[0], bounds[1]
	if lo > hi {
		x.fail(http.StatusBadRequest, statusBadRequest, fmt.Sprintf("min %d is above max %d", lo, hi))
		return
	}
	if !x.charge(8) {
		return
	}
	v, err := uniformInt(a.random, lo, hi)
	if err != nil {
		x.noRandom(err)
		return
	}
	x.json(http.StatusOK, httpsReply{Value: v})
}

// uniformInt returns an integer uniformly distributed over [lo, hi] from
// random 64-bit words: the span's size n divides 2^64 - r, r = 2^64 mod n,
// so words below 2^64 - r are kept and reduced mod n, and the r words
// above are drawn again (at most half the words, for any n; for small n a
// redraw almost never happens). The whole int64 range takes a word as it
// is.
func uniformInt(random io.Reader, lo, hi int64) (int64, error) {
	span := uint64(hi) - uint64(lo) // n - 1, two's complement
	var b [8]byte
	for {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return 0, err
		}
		w := binary.LittleEndian.Uint64(b[:])
		if span == math.MaxUint64 {
			return int64(w), nil
		}
		n := span + 1
		r := (math.MaxUint64%n + 1) % n // 2^64 mod n
		if r == 0 || w < -r {           // -r is 2^64 - r
			return int64(uint64(lo) + w%n), nil
		}
	}
}

// randomBool: GET /v1/bool.
func (a *httpsAPI) randomBool(x *httpsExchange) {
	if _, ok := x.query(); !ok {
		return
	}
	buf, ok := a.draw(x, 1)
	if !ok {
		return
	}
	x.json(http.StatusOK, httpsReply{Value: buf[0]&1 == 1})
}

// randomUUID: GET /v1/uuid, a version 4 UUID (RFC 9562).
func (a *httpsAPI) randomUUID(x *httpsExchange) {
	if _, ok := x.query(); !ok {
		return
	}
	b, ok := a.draw(x, 16)
	if !ok {
		return
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	h := hex.EncodeToString(b)
	x.json(http.StatusOK, httpsReply{Value: h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]})
}

// push: POST /v1/packet, a frame payload; the status reply as HTTP.
func (a *httpsAPI) push(x *httpsExchange) {
	if _, ok := x.query(); !ok {
		return
	}
	if ct := x.r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/octet-stream" {
			x.fail(http.StatusUnsupportedMediaType, statusMediaType, "want Content-Type application/octet-stream")
			return
		}
	}
	tooLarge := func() {
		x.fail(http.StatusRequestEntityTooLarge, statusTooLarge, fmt.Sprintf("a packet is at most %d bytes", a.maxFrame))
	}
	if x.r.ContentLength > int64(a.maxFrame) {
		tooLarge()
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(x.w, x.r.Body, int64(a.maxFrame)))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			tooLarge()
			return
		}
		x.attrs = append(x.attrs, "error", err.Error())
		x.fail(http.StatusBadRequest, statusBadRequest, "could not read the packet")
		return
	}
	if len(payload) < packet.MinFrame {
		x.attrs = append(x.attrs, "error", fmt.Sprintf("payload is %d bytes, want at least %d", len(payload), packet.MinFrame))
		x.packetStatus(packet.StatusMalformed, 0)
		return
	}
	ctx := withConn(x.r.Context(), connInfo{transport: "https", peer: x.r.RemoteAddr, client: x.name, start: x.start})
	status, value, err := a.accept(ctx, payload)
	x.attrs = append(x.attrs, "status", int(status))
	if err != nil {
		x.attrs = append(x.attrs, "reason", reason(err), "error", err.Error())
	}
	x.packetStatus(status, value)
}

// packetStatus answers a packet's status reply. The texts say no more
// than the status byte does: the detail is in the sink's log.
func (x *httpsExchange) packetStatus(s packet.Status, value int64) {
	rp := httpsReply{Status: s.String()}
	code := http.StatusInternalServerError
	switch s {
	case packet.StatusAccepted:
		code = http.StatusOK
	case packet.StatusUnverified:
		code, rp.Error = http.StatusForbidden, "could not open or verify the packet"
	case packet.StatusCounter:
		code, rp.Error, rp.Stored = http.StatusConflict, "counter not above the stored one", &value
	case packet.StatusDrift:
		code, rp.Error, rp.Now = http.StatusUnprocessableEntity, "timestamp outside the drift window", &value
	case packet.StatusMalformed:
		code, rp.Error = http.StatusBadRequest, "malformed packet"
	case packet.StatusUnavailable:
		code, rp.Error = http.StatusServiceUnavailable, "could not store or feed the packet; try later"
		x.retryAfter(retryUnavailable)
	case packet.StatusBusy:
		code, rp.Error = http.StatusServiceUnavailable, "busy; try later"
		x.retryAfter(retryBusy)
	default:
		rp = httpsReply{Status: statusInternal, Error: "no status"}
	}
	x.json(code, rp)
}
