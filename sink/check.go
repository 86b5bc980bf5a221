package sink

import (
	"log/slog"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/keys"
)

// Summary is what a configuration sets, its defaults applied: what the
// sink's start-up line and entropy-sink check show.
type Summary struct {
	// Public is the fingerprint of the sink's Curve25519 public key,
	// "SHA256:" and the hex SHA-256 of its 32 bytes: what sha256sum
	// prints for the raw sink.pub a source's targets entry was made from.
	Public      string
	Address     string
	Metrics     string // empty: off
	Pool        string // "kernel" or "file:/path"
	Credit      int    // bits credited per chunk
	Drift       int64  // seconds; 0 demands exact clocks
	MaxConns    int
	ReadTimeout time.Duration
	MaxFrame    int
	State       string // the state file's path
	Signers     []SignerSummary
	// Descriptors is how many file descriptors the sink may hold at
	// once: one per connection slot of each listener (MaxConns and the
	// 64 connections being told busy, HTTPS.MaxConns, MetricsMaxConns)
	// and DescriptorReserve for the listeners themselves, its files and
	// the Go runtime. The process's
	// RLIMIT_NOFILE must allow them, or a flood of one listener's
	// connections could leave another's slots without descriptors.
	Descriptors int
}

// DescriptorReserve is the part of Summary.Descriptors that is not
// connections: three listeners, the configuration, state, boot seed, pool
// and lock files, standard streams, the runtime's epoll and pipes, with
// room to spare.
const DescriptorReserve = 64

// SignerSummary is one signer of a Summary.
type SignerSummary struct {
	Name string
	// Fingerprint is keys.Fingerprint of its public key: "SHA256:" and
	// the hex SHA-256 of its PKIX DER, what sha256sum prints for the raw
	// signer.pub on the board.
	Fingerprint string
	Legacy      bool
}

// Summary checks c and returns what it sets.
func (c *Config) Summary() (*Summary, error) {
	k, err := c.compile()
	if err != nil {
		return nil, err
	}
	return k.summary(c), nil
}

func (k *compiled) summary(c *Config) *Summary {
	s := &Summary{
		Public:      keys.Curve25519Fingerprint((*[keys.Curve25519Size]byte)(k.recipient.Public())),
		Address:     c.Address,
		Metrics:     c.Metrics,
		Pool:        "kernel",
		Credit:      k.credit,
		Drift:       c.Drift,
		MaxConns:    k.maxConns,
		ReadTimeout: k.readTimeout,
		MaxFrame:    k.maxFrame,
		State:       c.StatePath(),
		Descriptors: k.maxConns + busyResponders + DescriptorReserve,
	}
	if c.HTTPS != nil {
		s.Descriptors += cmpDefault(c.HTTPS.MaxConns, DefaultHTTPSMaxConns)
	}
	if c.Metrics != "" {
		s.Descriptors += MetricsMaxConns
	}
	if !k.pool.kernel {
		s.Pool = "file:" + k.pool.path
	}
	for i, sg := range k.signers {
		s.Signers = append(s.Signers, SignerSummary{Name: k.names[i], Fingerprint: keys.Fingerprint(sg.Key), Legacy: sg.Legacy})
	}
	return s
}

// Attrs are the summary as log attributes: pool, credit, drift, signers
// (each "name fingerprint", comma-separated) and state.
func (s *Summary) Attrs() []any {
	signers := make([]string, len(s.Signers))
	for i, sg := range s.Signers {
		signers[i] = sg.Name + " " + sg.Fingerprint
	}
	return []any{"pool", s.Pool, "credit", s.Credit, "drift", s.Drift,
		"signers", strings.Join(signers, ", "), "state", s.State}
}

// logWarnings logs what in c is probably a mistake: each misspelled
// field, and a Drift of 0, which refuses every packet whose timestamp is
// a second off the sink's clock.
func (c *Config) logWarnings(log *slog.Logger) {
	c.logMisspellings(log)
	if c.Drift == 0 {
		log.Warn(DriftZeroWarning, "file", c.path)
	}
}

// DriftZeroWarning is the warning about a configuration whose Drift is 0.
const DriftZeroWarning = "Drift is 0: a packet is accepted only when its timestamp is the sink's clock to the second; " +
	"set Drift, in seconds (entropy-config -d; 120 by default)"

// StateCheck is what Check found of the state file.
type StateCheck struct {
	Exists bool // false: the first start makes it
	// Spoiled says why one slot was passed over (a write cut short by a
	// crash); the sink starts with the other. Empty when none was.
	Spoiled string
}

// Check checks cfg and its state file as a sink starting with them would,
// without listening, opening the pool or writing anything, and returns
// what cfg sets. A state file that is damaged or unreadable, or is the
// configuration file itself, is a *ConfigError.
func Check(cfg *Config) (*Summary, StateCheck, error) {
	k, err := cfg.compile()
	if err != nil {
		return nil, StateCheck{}, err
	}
	path, err := cfg.statePathChecked()
	if err != nil {
		return nil, StateCheck{}, err
	}
	l, err := readState(path)
	if err != nil {
		return nil, StateCheck{}, err
	}
	return k.summary(cfg), StateCheck{Exists: l.slotSize != 0, Spoiled: l.spoiled}, nil
}
