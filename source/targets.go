package source

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/atomicfile"
	"github.com/entropyshare/entropyshare/internal/jsonextra"
	"github.com/entropyshare/entropyshare/internal/privfile"
	"github.com/entropyshare/entropyshare/packet"
)

// PublicKey is a sink's Curve25519 public key. In JSON it is standard
// base64, as encoding/json writes a []byte, and must decode to 32 bytes.
type PublicKey [packet.KeySize]byte

// MarshalJSON writes the key as a base64 string.
func (k PublicKey) MarshalJSON() ([]byte, error) {
	// Standard base64 needs no escaping in a JSON string.
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(k))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, k[:])
	return append(out, '"'), nil
}

// UnmarshalJSON reads a base64 string of exactly 32 bytes.
func (k *PublicKey) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return &fieldError{"Public", fmt.Errorf("want a base64 string, got %s", jsonKind(data))}
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return &fieldError{"Public", fmt.Errorf("not standard base64: %v", err)}
	}
	if len(raw) != packet.KeySize {
		return &fieldError{"Public", fmt.Errorf("decodes to %d bytes, want a %d-byte Curve25519 public key", len(raw), packet.KeySize)}
	}
	copy(k[:], raw)
	return nil
}

// Target is one entry of the targets file: the original's four fields,
// then this project's optional ones (PROTOCOL.md, "Files").
type Target struct {
	Address string    // host:port of the sink, or https://host[:port] for its HTTPS listener
	Public  PublicKey // the sink's Curve25519 public key
	Counter int64     // the last counter used (or reserved) for this sink
	Next    int64     `json:",omitempty"` // Unix time the next packet is due

	Name      string `json:",omitempty"` // for people and logs
	Protocol  int    `json:",omitempty"` // 1 or 2; 0 means defaultProtocol
	Interval  int64  `json:",omitempty"` // seconds between packets; 0 means DefaultInterval
	LastError string `json:",omitempty"` // why the last delivery failed
	// Failures counts consecutive failed deliveries; it sets the backoff.
	Failures int `json:",omitempty"`
	// LastSuccess is the Unix time (the start of the run) of the last
	// delivery.
	LastSuccess int64 `json:",omitempty"`
	// CA is a PEM file of the CA certificates an https:// sink's
	// certificate must chain to, in place of the run's (Config.TLS);
	// relative to the targets file's folder.
	CA string `json:",omitempty"`

	// extra keeps the members this version does not know.
	extra jsonextra.Fields
}

// Proto returns the entry's protocol, the default filled in.
func (t *Target) Proto() packet.Protocol {
	if t.Protocol == 0 {
		return defaultProtocol
	}
	return packet.Protocol(t.Protocol)
}

// Every returns the entry's interval, the default filled in.
func (t *Target) Every() time.Duration {
	if t.Interval <= 0 {
		return DefaultInterval
	}
	if t.Interval > math.MaxInt64/int64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(t.Interval) * time.Second
}

// Label names the entry for people: its Name, or its Address.
func (t *Target) Label() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Address
}

// HTTPS reports whether the entry is a sink's HTTPS listener
// (https://host[:port]), which is sent its packet by POST /v1/packet.
func (t *Target) HTTPS() bool { return strings.HasPrefix(t.Address, httpsScheme) }

const httpsScheme = "https://"

// httpsURL parses an https:// Address: a host, an optional port, and
// nothing else.
func httpsURL(address string) (*url.URL, error) {
	u, err := url.Parse(address)
	if err != nil {
		return nil, errors.New("want https://HOST[:PORT]")
	}
	switch {
	case u.Scheme != "https":
		return nil, errors.New("want https://HOST[:PORT]")
	case u.Hostname() == "":
		return nil, errors.New("no host; want https://HOST[:PORT]")
	case u.User != nil:
		return nil, errors.New("a user name; want https://HOST[:PORT]")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(address, "#"):
		return nil, errors.New("a path, query or fragment; want https://HOST[:PORT] (the packet goes to /v1/packet)")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("bad port %q", p)
		}
	}
	return u, nil
}

// due reports whether a packet is due at now.
func (t *Target) due(now time.Time) bool { return t.Next <= now.Unix() }

// Validate checks the fields a run depends on.
func (t *Target) Validate() error {
	if t.Address == "" {
		return &fieldError{"Address", errors.New("missing; want host:port or https://HOST[:PORT]")}
	}
	if t.HTTPS() {
		if _, err := httpsURL(t.Address); err != nil {
			return &fieldError{"Address", err}
		}
	} else if err := checkHostPort(t.Address); err != nil {
		return err
	}
	if t.CA != "" && !t.HTTPS() {
		return &fieldError{"CA", errors.New("set for a target that is not https://")}
	}
	return t.checkValues()
}

// checkHostPort checks a TCP target's host:port.
func checkHostPort(address string) error {
	if scheme, _, ok := strings.Cut(address, "://"); ok {
		return &fieldError{"Address", fmt.Errorf("scheme %q; want host:port, or https://HOST[:PORT]", scheme)}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return &fieldError{"Address", fmt.Errorf("want host:port: %v", err)}
	}
	if host == "" {
		return &fieldError{"Address", errors.New("no host; want host:port")}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		// A service name ("vps:https") is a port too; "0" is none.
		if n, err := net.LookupPort("tcp", port); err != nil || n == 0 {
			return &fieldError{"Address", fmt.Errorf("bad port %q; want 1 to 65535", port)}
		}
	}
	return nil
}

// checkValues checks the fields besides Address.
func (t *Target) checkValues() error {
	if t.Public == (PublicKey{}) {
		return &fieldError{"Public", errors.New("missing or all zeros; want the sink's base64 Curve25519 public key")}
	}
	if t.Counter < 0 {
		return &fieldError{"Counter", fmt.Errorf("%d is negative", t.Counter)}
	}
	if t.Protocol != 0 && !packet.Protocol(t.Protocol).Valid() {
		return &fieldError{"Protocol", fmt.Errorf("%d; want 1 or 2", t.Protocol)}
	}
	if t.Interval < 0 {
		return &fieldError{"Interval", fmt.Errorf("%d is negative; want seconds", t.Interval)}
	}
	if t.Failures < 0 {
		return &fieldError{"Failures", fmt.Errorf("%d is negative", t.Failures)}
	}
	if t.LastSuccess < 0 {
		return &fieldError{"LastSuccess", fmt.Errorf("%d is negative; want Unix seconds", t.LastSuccess)}
	}
	return nil
}

// fieldError is an error about one field of an entry.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// Targets is the contents of a targets file.
type Targets struct {
	// Entries are the targets in file order.
	Entries []*Target
	// single: the file held one bare entry, as the original's entropy-target
	// prints it, rather than an array. It is written back the same way
	// while it has one entry.
	single bool
}

// parseTargets parses a targets file. path only names the file in errors.
// Every entry is validated; the first problem is returned as a *fileError.
func parseTargets(path string, data []byte) (*Targets, error) {
	fileErr := func(i int, t *Target, field string, err error) error {
		e := &fileError{Path: path, Index: i, Field: field, Err: err}
		if t != nil {
			e.Name, e.Address = t.Name, t.Address
		}
		return e
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fileErr(-1, nil, "", errors.New("file is empty; want a JSON array of targets ([] for none)"))
	}
	var raws []json.RawMessage
	// One bare object is the original entropy-target's output, pasted as
	// the whole file: accept it as a one-entry file.
	single := jsonKind(data) == "object" && json.Valid(data)
	if single {
		raws = []json.RawMessage{bytes.TrimSpace(data)}
	} else if err := json.Unmarshal(data, &raws); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se) && se.Offset >= int64(len(data)):
			return nil, fileErr(-1, nil, "", errors.New("not valid JSON: it ends too early (truncated?)"))
		case errors.As(err, &se):
			return nil, fileErr(-1, nil, "", fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, se))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fileErr(-1, nil, "", errors.New("not valid JSON: it ends too early (truncated?)"))
		case errors.As(err, &te):
			return nil, fileErr(-1, nil, "", fmt.Errorf("file holds a JSON %s; want an array of targets", te.Value))
		}
		return nil, fileErr(-1, nil, "", err)
	}
	out := &Targets{Entries: make([]*Target, 0, len(raws)), single: single}
	seen := map[string]int{}
	for i, raw := range raws {
		if k := jsonKind(raw); k != "object" {
			return nil, fileErr(i, nil, "", fmt.Errorf("entry is a JSON %s; want an object", k))
		}
		// Decode the names first, so that an error in a later field can
		// still say which entry it is about.
		var id struct{ Name, Address string }
		_ = json.Unmarshal(raw, &id)
		t := &Target{Name: id.Name, Address: id.Address}
		extra, err := jsonextra.Unmarshal(raw, t)
		if err != nil {
			var fe *fieldError
			var te *json.UnmarshalTypeError
			switch {
			case errors.As(err, &fe):
				return nil, fileErr(i, t, fe.field, fe.err)
			case errors.As(err, &te):
				return nil, fileErr(i, t, te.Field, fmt.Errorf("want %s, got JSON %s", kindOf(te), te.Value))
			}
			return nil, fileErr(i, t, "", err)
		}
		t.Name, t.Address = id.Name, id.Address
		t.extra = extra
		if err := t.Validate(); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, fileErr(i, t, fe.field, fe.err)
			}
			return nil, fileErr(i, t, "", err)
		}
		key := t.Address + "\x00" + string(t.Public[:])
		if j, ok := seen[key]; ok {
			return nil, fileErr(i, t, "", fmt.Errorf("%w: same Address and Public as entry %d (they would share the sink's counter)", ErrDuplicate, j))
		}
		seen[key] = i
		out.Entries = append(out.Entries, t)
	}
	return out, nil
}

func kindOf(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "another type"
	}
	switch te.Type.Kind().String() {
	case "int", "int64":
		return "an integer"
	case "string":
		return "a string"
	}
	return te.Type.String()
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// marshal encodes the targets as the file holds them: a tab-indented JSON
// array, each entry's unknown fields kept after the known ones.
func (ts *Targets) marshal() ([]byte, error) {
	if ts.single && len(ts.Entries) == 1 {
		return ts.Entries[0].MarshalEntry()
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, t := range ts.Entries {
		if i > 0 {
			b.WriteByte(',')
		}
		obj, err := jsonextra.MarshalCompact(t, t.extra)
		if err != nil {
			return nil, err
		}
		b.Write(obj)
	}
	b.WriteByte(']')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// MarshalEntry encodes one entry as a tab-indented JSON object, as the
// original's entropy-target printed it, unknown fields kept.
func (t *Target) MarshalEntry() ([]byte, error) {
	return jsonextra.Marshal(t, t.extra)
}

// LoadTargets reads and parses a targets file.
func LoadTargets(path string) (*Targets, error) {
	data, err := readTargets(path)
	if err != nil {
		return nil, err
	}
	return parseTargets(path, data)
}

func readTargets(path string) ([]byte, error) {
	fail := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &fileError{Path: path, Index: -1, Err: err}
	}
	f, err := privfile.Open(path)
	if err != nil {
		return nil, fail(err)
	}
	defer f.Close()
	data, err := privfile.ReadAll(f, maxTargetsFile)
	if err != nil {
		return nil, fail(err)
	}
	return data, nil
}

// Save replaces the targets file atomically and durably, keeping the mode
// of the file it replaces (0644 for a new file: it holds only public keys
// and addresses).
func (ts *Targets) Save(path string) error { return ts.save(path, true, writeFile) }

// A writeFunc replaces the file at path with data, mode perm: atomically,
// and durably unless durable is false.
type writeFunc func(path string, data []byte, perm os.FileMode, durable bool) error

// writeFile is the writeFunc of internal/atomicfile: with durable false
// the folder is not fsynced, so a crash may leave the previous file,
// complete.
func writeFile(path string, data []byte, perm os.FileMode, durable bool) error {
	if durable {
		return atomicfile.WriteFile(path, data, perm)
	}
	return atomicfile.Replace(path, data, perm)
}

// save encodes ts and writes it to path with write, keeping the mode of
// the file it replaces.
func (ts *Targets) save(path string, durable bool, write writeFunc) error {
	data, err := ts.marshal()
	if err != nil {
		return fmt.Errorf("source: encoding %s: %w", path, err)
	}
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm() &^ 0o111
	}
	if err := write(path, data, perm, durable); err != nil {
		return fmt.Errorf("source: writing %s: %w", path, err)
	}
	return nil
}
