package sink

import "time"

// Implementation defaults and limits; the protocol's own sizes live in
// package packet.
const (
	// DefaultCredit is the number of bits credited to the kernel pool for
	// each accepted 1024-byte chunk when the configuration does not say.
	DefaultCredit = 256

	// maxCredit is the most a chunk can be credited: one bit per bit.
	maxCredit = 1024 * 8

	// defaultMaxConns bounds the connections a sink serves at once.
	defaultMaxConns = 256

	// defaultReadTimeout is the most a peer has to deliver its whole
	// frame, from accept to the last byte, whatever HeaderTimeout and
	// MinRate allow: a 1.6 KB frame arrives in about 5 s at 300 B/s, but
	// a source sends to up to eight sinks at once over its one link (about
	// 45 s for all eight), so 60 s leaves room for a slow hotspot and
	// bounds what a stalled peer can hold.
	defaultReadTimeout = 60 * time.Second

	// defaultMaxConnsPerAddress bounds the connections of one IPv4
	// address or IPv6 /64: a source opens one at a time; eight leave room
	// for a few sources behind one NAT address.
	defaultMaxConnsPerAddress = 8

	// defaultHeaderTimeout is how long a peer has, from accept, to send
	// the frame's length; its payload then has the same grace before
	// defaultMinRate applies (limits.go).
	defaultHeaderTimeout = 10 * time.Second

	// defaultMinRate, bytes per second, is the slowest a payload may
	// arrive after its grace: a third of a 300 B/s hotspot, so that one
	// source can send to three sinks at once over it.
	defaultMinRate = 100

	// defaultReplayCache is how many rejected payloads' digests the sink
	// remembers (replay.go): 4096 of them take about 300 KB.
	defaultReplayCache = 4096
	// maxReplayCache bounds ReplayCache: some 5 MB.
	maxReplayCache = 1 << 16

	// hintEvery is how often the legacy hint may cost a verification.
	hintEvery = time.Second

	// writeTimeout bounds writing the status reply.
	writeTimeout = 5 * time.Second

	// lingerTimeout and lingerBytes bound how long and how much a sink
	// drains from a peer after replying, so that closing with unread input
	// does not turn into a reset that destroys the reply in flight.
	lingerTimeout = time.Second
	lingerBytes   = 64 << 10

	// busyResponders bounds the goroutines that tell excess connections
	// the sink is busy; beyond it they are closed without a reply.
	busyResponders = 64

	// DefaultShutdownTimeout is how long the command waits for in-flight
	// connections on SIGTERM before closing them.
	DefaultShutdownTimeout = 10 * time.Second

	// stateMode is the state file's mode. It holds no secret, but nobody
	// else has any business with it.
	stateMode = 0o600
)
