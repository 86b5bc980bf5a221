package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/entropyshare/entropyshare/internal/privfile"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/packet"
)

// Config is the sink's configuration. The sink only reads it: the counters
// it moves live in its state file (State), so the file holding the private
// key can be read-only to the sink.
//
// The first five fields are the original entropyshare's, in the order its
// entropy-config wrote them, so that entropy-config with the original's
// flags writes the original's file byte for byte. The rest are this
// project's and are left out of the file while they hold their zero value,
// which always means "the default".
type Config struct {
	Address string // listen address, host:port
	Signer  []byte `json:",omitempty"` // PKIX DER of the first signer's RSA public key
	Counter int64  // floor of Signer's stored counter (see State)
	Private []byte // the sink's Curve25519 private key, 32 bytes
	Drift   int64  // seconds a timestamp may differ from the sink's clock

	// Legacy accepts protocol 1 (original) packets from Signer. Protocol 1
	// signatures are not bound to the sink and can be forwarded by a
	// neighbouring sink of the same source.
	Legacy bool `json:",omitempty"`
	// Pool is "kernel" (the default, also when empty) or "file:/path".
	Pool string `json:",omitempty"`
	// PoolSync fsyncs a file pool after each chunk.
	PoolSync bool `json:",omitempty"`
	// Credit is the number of bits credited to the kernel pool per chunk.
	// Absent (nil) means DefaultCredit; 0 mixes the chunk in without
	// crediting it. A pointer because 0 is a meaningful setting.
	Credit *int `json:",omitempty"`
	// MaxConns bounds concurrent connections; 0 means 256.
	MaxConns int `json:",omitempty"`
	// ReadTimeout is the time a peer has to deliver its frame; 0 means
	// 60 s. Written as Go duration text ("30s").
	ReadTimeout Duration `json:",omitempty"`
	// MaxFrame bounds the payload length a frame may announce; 0 means
	// packet.DefaultMaxFrame.
	MaxFrame int `json:",omitempty"`
	// Metrics is the listen address of the /metrics and /healthz HTTP
	// endpoint; empty means off.
	Metrics string `json:",omitempty"`
	// State is the state file: each signer's stored counter, keyed by the
	// SHA-256 of its public key, so that reordering or adding signers
	// never mixes counters. A relative path is taken from the
	// configuration's folder; empty means beside the configuration
	// (sink.state for sink.json). A Counter in the configuration is a
	// floor: the stored counter is the larger of it and the state file's.
	State string `json:",omitempty"`
	// Signers are further sources, each with its own counter.
	Signers []SignerConfig `json:",omitempty"`
	// BootSeed is the boot seed file, into which the sink mixes every chunk
	// it accepts, for entropy-sink seed to feed the kernel at the next boot
	// (docs/BOOTSEED.md). A relative path is taken from the state file's
	// folder; empty means DefaultBootSeedName there. See BootSeedPath.
	BootSeed string `json:",omitempty"`
	// MaxConnsPerAddress bounds the connections served at once from one
	// IPv4 address or IPv6 /64; 0 means 8. When all MaxConns are taken, a
	// newcomer evicts the oldest connection that has not delivered its
	// frame of the address holding the most.
	MaxConnsPerAddress int `json:",omitempty"`
	// HeaderTimeout is the time a peer has, from connecting, to send the
	// frame's two-byte length; 0 means 10 s. The payload then has the same
	// grace, after which it must keep up MinRate.
	HeaderTimeout Duration `json:",omitempty"`
	// MinRate is the slowest a payload may arrive after its grace, bytes
	// per second; 0 means 100.
	MinRate int `json:",omitempty"`
	// ReplayCache is how many payloads rejected as unverifiable or
	// malformed the sink remembers (SHA-256 digests), so that the same
	// bytes again cost a hash rather than a box and RSA verifications;
	// 0 means 4096, -1 turns it off.
	ReplayCache int `json:",omitempty"`

	// HTTPS is the optional HTTPS listener (PROTOCOL.md, "HTTPS"); nil
	// means none. Its file names are relative to the configuration's
	// folder (Dir).
	HTTPS *HTTPSConfig `json:",omitempty"`

	path       string        // the file this configuration was loaded from
	misspelled []Misspelling // unknown members that look like fields (Misspellings)
}

// SignerConfig is one additional source in Config.Signers.
type SignerConfig struct {
	Name    string // unique; names the signer in logs and metrics
	Signer  []byte // PKIX DER of its RSA public key
	Counter int64  // floor of its stored counter
	Legacy  bool   `json:",omitempty"` // accept protocol 1 from it
}

// DefaultSignerName names Config.Signer in logs, metrics and errors.
const DefaultSignerName = "default"

// Duration is a time.Duration written in JSON as Go duration text ("30s").
// A bare JSON number is read as seconds, as Drift is.
type Duration time.Duration

// MarshalJSON writes d as duration text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads duration text or a number of seconds.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(data)), 64)
	if err != nil {
		return fmt.Errorf("want duration text such as \"30s\" or a number of seconds, got %s", data)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// ConfigError is a configuration or state file that stops the sink from
// starting: it names the file and, where one is to blame, the field.
type ConfigError struct {
	Path  string // the file, or empty for a configuration not read from one
	Field string // e.g. "Private" or "Signers[1].Signer"; empty for the whole file
	Err   error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("sink: ")
	if e.Path != "" {
		var pe *privfile.PermissionError
		if errors.As(e.Err, &pe) {
			// It names the file and the chmod that fixes it already.
			return b.String() + strings.TrimPrefix(pe.Error(), "keys: ")
		}
		var oe *privfile.OwnerError
		if errors.As(e.Err, &oe) {
			return b.String() + oe.Error() // the file and the chown
		}
		b.WriteString(e.Path + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	msg := e.Err.Error()
	for _, p := range []string{"keys: ", "packet: ", "json: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	b.WriteString(msg)
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// errMissing is wrapped by errors about a required field that is absent.
var errMissing = errors.New("missing")

// errExampleKey: the configuration holds the private key published in the
// repository's sink.example.json. Anyone could open what sources seal to
// it, so a sink never runs with it.
var errExampleKey = errors.New("is the published example key from sink.example.json; make this sink's own key with entropy-config --new-key")

// examplePublic is the public half of sink.example.json's private key.
var examplePublic = [packet.KeySize]byte{
	0x82, 0x0f, 0x1b, 0xe9, 0xf2, 0xc7, 0x1e, 0x9f, 0x37, 0xea, 0x87, 0xbc, 0x87, 0x37, 0x5b, 0xd8,
	0xf2, 0xf1, 0xd0, 0xe6, 0x6b, 0xc4, 0x39, 0x5c, 0xb5, 0x26, 0xe2, 0xee, 0xf8, 0xba, 0xef, 0x62,
}

// LoadConfig reads and checks a sink configuration file. The file holds
// the sink's private key, so it is refused when others can read it, and
// when its group can unless it is root's and its group may only read it
// (root:entropyshare 0640, the packages' setup), and when it is owned by
// another user than root and the process's. The error says which chmod or
// chown fixes it.
func LoadConfig(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &ConfigError{Path: path, Err: err}
	}
	defer clear(data)
	c, err := ParseConfig(data)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Path = path
		}
		return nil, err
	}
	c.path = path
	if err := c.validateHTTPS(true); err != nil {
		return nil, err
	}
	return c, nil
}

// maxConfigFile bounds what LoadConfig reads: about 150 signer entries.
const maxConfigFile = 64 << 10

func readConfigFile(path string) ([]byte, error) {
	f, err := privfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := privfile.Check(f); err != nil && !(errors.Is(err, privfile.ErrPermissions) && rootGroupReadable(f)) {
		return nil, err
	}
	if err := privfile.CheckOwner(f); err != nil {
		return nil, err
	}
	return privfile.ReadAll(f, maxConfigFile)
}

// rootGroupReadable reports whether f is owned by root and its group may
// read it and nothing more, while others have no access: root:entropyshare
// 0640. A process that is not root can open such a file only through its
// group, so the group is the process's own; see RATIONALE.md.
func rootGroupReadable(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0 && fi.Mode().Perm()&0o077 == 0o040
}

// ParseConfig decodes and checks a configuration. Members it does not
// know are ignored; those that look like misspelled fields are kept in
// Misspellings. The HTTPS listener's files are not looked for: LoadConfig
// and Validate, which know the folder, do that.
func ParseConfig(data []byte) (*Config, error) {
	c := new(Config)
	if err := json.Unmarshal(data, c); err != nil {
		field, ferr := locate(data)
		if ferr != nil {
			err = ferr
		}
		return nil, &ConfigError{Field: field, Err: err}
	}
	c.misspelled = misspellings(data, reflect.TypeFor[Config](), "")
	if _, err := c.compile(); err != nil {
		return nil, blameMisspelling(err, c.misspelled)
	}
	if err := c.validateHTTPS(false); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir is the folder the configuration's relative file names are taken
// from: the configuration file's, or the working folder for one read from
// no file.
func (c *Config) Dir() string {
	if c.path == "" {
		return "."
	}
	return filepath.Dir(c.path)
}

// validateHTTPS checks the HTTPS listener's settings, with stat that its
// files exist.
func (c *Config) validateHTTPS(stat bool) error {
	if c.HTTPS == nil {
		return nil
	}
	_, err := c.HTTPS.settings(c.Dir(), stat)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.Path = c.path
	}
	return err
}

// StatePath returns the state file's path: State, taken from the
// configuration's folder when relative, or else the configuration's path
// with ".state" in place of ".json". It is empty for a configuration read
// from no file and without State.
func (c *Config) StatePath() string {
	switch {
	case filepath.IsAbs(c.State):
		return c.State
	case c.State != "" && c.path != "":
		return filepath.Join(filepath.Dir(c.path), c.State)
	case c.State != "":
		return c.State
	case c.path != "":
		return strings.TrimSuffix(c.path, ".json") + ".state"
	}
	return ""
}

// Marshal encodes the configuration as the original tools wrote it:
// tab-indented, with a final newline.
func (c *Config) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(c, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Validate reports the first problem that would stop a sink from
// starting, the HTTPS listener's files included.
func (c *Config) Validate() error {
	if _, err := c.compile(); err != nil {
		return err
	}
	return c.validateHTTPS(true)
}

// locate finds the field whose value made decoding fail, since
// encoding/json does not name it for bad base64.
func locate(data []byte) (string, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return "", nil
	}
	for _, name := range sortedKeys(top) {
		f, ok := fieldByJSONName(reflect.TypeFor[Config](), name)
		if !ok {
			continue
		}
		if f.Name != "Signers" {
			if err := json.Unmarshal(top[name], reflect.New(f.Type).Interface()); err != nil {
				return f.Name, err
			}
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(top[name], &items); err != nil {
			return "Signers", err
		}
		for i, item := range items {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(item, &m); err != nil {
				return fmt.Sprintf("Signers[%d]", i), err
			}
			for _, n := range sortedKeys(m) {
				sf, ok := fieldByJSONName(reflect.TypeFor[SignerConfig](), n)
				if !ok {
					continue
				}
				if err := json.Unmarshal(m[n], reflect.New(sf.Type).Interface()); err != nil {
					return fmt.Sprintf("Signers[%d].%s", i, sf.Name), err
				}
			}
		}
	}
	return "", nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if f.IsExported() && strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// compiled is a configuration checked and ready to serve.
type compiled struct {
	recipient   *packet.Recipient
	signers     []packet.Signer // the order the recipient reports indexes in
	names       []string        // names[i] names signers[i]
	fps         []fingerprint   // fps[i] keys signers[i] in the state file
	primary     bool            // signers[0] is Config.Signer; Signers follow
	floors      []int64         // the configuration's counters, by signer index
	credit      int
	maxConns    int
	readTimeout time.Duration
	maxFrame    int
	pool        poolSpec

	// connection limits (limits.go)
	maxConnsPerAddr int
	headerTimeout   time.Duration
	minRate         int
	replayCache     int // payload digests remembered; 0: none (replay.go)
}

func fieldErr(field string, format string, args ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
}

func (c *Config) compile() (*compiled, error) {
	k := &compiled{}
	if c.Address == "" {
		return nil, &ConfigError{Field: "Address", Err: errMissing}
	}
	if err := CheckAddress("Address", c.Address); err != nil {
		return nil, err
	}
	if c.Metrics != "" {
		if err := CheckAddress("Metrics", c.Metrics); err != nil {
			return nil, err
		}
	}
	if len(c.Private) == 0 {
		return nil, &ConfigError{Field: "Private", Err: errMissing}
	}
	if len(c.Private) != packet.KeySize {
		return nil, fieldErr("Private", "key is %d bytes, want %d", len(c.Private), packet.KeySize)
	}
	if c.Drift < 0 {
		return nil, fieldErr("Drift", "%d is negative", c.Drift)
	}

	if len(c.Signer) == 0 && len(c.Signers) == 0 {
		return nil, &ConfigError{Field: "Signer", Err: fmt.Errorf("%w: no signer configured (Signer or Signers)", errMissing)}
	}
	add := func(field, name string, der []byte, counter int64, legacy bool) error {
		key, err := keys.ParseRSAPublic(der)
		if err != nil {
			return &ConfigError{Field: field, Err: err}
		}
		for i, s := range k.signers {
			if s.Key.Equal(key) {
				return fieldErr(field, "same key as signer %q", k.names[i])
			}
		}
		k.signers = append(k.signers, packet.Signer{Key: key, Legacy: legacy})
		k.names = append(k.names, name)
		k.fps = append(k.fps, keyFingerprint(key))
		k.floors = append(k.floors, counter)
		return nil
	}
	if len(c.Signer) > 0 {
		k.primary = true
		if err := add("Signer", DefaultSignerName, c.Signer, c.Counter, c.Legacy); err != nil {
			return nil, err
		}
	}
	for i, s := range c.Signers {
		field := fmt.Sprintf("Signers[%d]", i)
		if s.Name == "" {
			return nil, &ConfigError{Field: field + ".Name", Err: errMissing}
		}
		if slices.Contains(k.names, s.Name) || s.Name == DefaultSignerName {
			return nil, fieldErr(field+".Name", "%q is not unique (%q names Signer)", s.Name, DefaultSignerName)
		}
		if len(s.Signer) == 0 {
			return nil, &ConfigError{Field: field + ".Signer", Err: errMissing}
		}
		if err := add(field+".Signer", s.Name, s.Signer, s.Counter, s.Legacy); err != nil {
			return nil, err
		}
	}
	var priv [packet.KeySize]byte
	copy(priv[:], c.Private)
	r, err := packet.NewRecipient(&priv, k.signers)
	clear(priv[:])
	if err != nil {
		return nil, &ConfigError{Field: "Private", Err: err}
	}
	if *r.Public() == examplePublic {
		return nil, &ConfigError{Field: "Private", Err: errExampleKey}
	}
	k.recipient = r

	k.credit = DefaultCredit
	if c.Credit != nil {
		k.credit = *c.Credit
		if k.credit < 0 || k.credit > maxCredit {
			return nil, fieldErr("Credit", "%d bits, want 0 to %d", k.credit, maxCredit)
		}
	}
	k.maxConns = cmpDefault(c.MaxConns, defaultMaxConns)
	if c.MaxConns < 0 {
		return nil, fieldErr("MaxConns", "%d is negative", c.MaxConns)
	}
	k.readTimeout = cmpDefault(time.Duration(c.ReadTimeout), defaultReadTimeout)
	if c.ReadTimeout < 0 {
		return nil, fieldErr("ReadTimeout", "%s is negative", time.Duration(c.ReadTimeout))
	}
	if err := c.compileLimits(k); err != nil {
		return nil, err
	}
	k.maxFrame = cmpDefault(c.MaxFrame, packet.DefaultMaxFrame)
	if k.maxFrame < packet.MinFrame || k.maxFrame > packet.MaxFrameLimit {
		return nil, fieldErr("MaxFrame", "%d bytes, want %d to %d", k.maxFrame, packet.MinFrame, packet.MaxFrameLimit)
	}
	ps, err := parsePoolSpec(c.Pool)
	if err != nil {
		return nil, err
	}
	ps.sync = c.PoolSync
	k.pool = ps
	return k, nil
}

// cmpDefault returns v, or def when v is zero or negative.
func cmpDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
