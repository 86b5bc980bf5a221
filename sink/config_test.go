package sink

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/packet"
)

// The original's sink.json loads as it is (once 0600) and, rewritten with
// nothing changed, comes back byte for byte.
func TestOriginalConfig(t *testing.T) {
	orig := vectors.Read(t, "sink.json")
	path := privateCopy(t, t.TempDir(), "sink.json", orig)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Address != "127.0.0.1:4141" || c.Counter != 0 || c.Drift != 120 || len(c.Private) != 32 || c.Legacy {
		t.Fatalf("loaded %+v", c)
	}
	out, err := c.Marshal()
	if err != nil || !bytes.Equal(out, orig) {
		t.Fatalf("rewrite differs:\n%s", out)
	}
}

// The original wrote sink.json 0644; loading it says how to fix that.
func TestConfigPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.json")
	os.WriteFile(path, vectors.Read(t, "sink.json"), 0o644)
	os.Chmod(path, 0o644)
	_, err := LoadConfig(path)
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, keys.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("0644 config: %v", err)
	}
	_, err = LoadConfig(filepath.Join(t.TempDir(), "missing.json"))
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestBadConfigs(t *testing.T) {
	good := func() map[string]string {
		return map[string]string{
			"Address": `"127.0.0.1:4141"`,
			"Signer":  `"` + base64.StdEncoding.EncodeToString(vectors.Read(t, "signer.pub")) + `"`,
			"Counter": `0`,
			"Private": `"` + base64.StdEncoding.EncodeToString(vectors.Read(t, "sink.key")) + `"`,
			"Drift":   `120`,
		}
	}
	short := `"` + base64.StdEncoding.EncodeToString(make([]byte, 31)) + `"`
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]string)
		field  string
		substr string
	}{
		{"no address", func(m map[string]string) { delete(m, "Address") }, "Address", "missing"},
		{"address without port", func(m map[string]string) { m["Address"] = `"127.0.0.1"` }, "Address", `"127.0.0.1": missing port in address`},
		{"address port too high", func(m map[string]string) { m["Address"] = `":99999"` }, "Address", `port "99999", want a number from 1 to 65535`},
		{"address port 0", func(m map[string]string) { m["Address"] = `":0"` }, "Address", `port "0"`},
		{"address port a name", func(m map[string]string) { m["Address"] = `":http"` }, "Address", `port "http"`},
		{"address too many colons", func(m map[string]string) { m["Address"] = `"::1:4141"` }, "Address", "[ipv6]:port"},
		{"metrics without port", func(m map[string]string) { m["Metrics"] = `"localhost"` }, "Metrics", "missing port"},
		{"metrics port too high", func(m map[string]string) { m["Metrics"] = `"127.0.0.1:70000"` }, "Metrics", `port "70000"`},
		{"no private", func(m map[string]string) { delete(m, "Private") }, "Private", "missing"},
		{"no signer", func(m map[string]string) { delete(m, "Signer") }, "Signer", "missing"},
		{"private 31 bytes", func(m map[string]string) { m["Private"] = short }, "Private", "31 bytes, want 32"},
		{"private bad base64", func(m map[string]string) { m["Private"] = `"not*base64"` }, "Private", "base64"},
		{"signer bad base64", func(m map[string]string) { m["Signer"] = `"AAAA%%"` }, "Signer", "base64"},
		{"signer not a key", func(m map[string]string) { m["Signer"] = short }, "Signer", "RSA public key"},
		{"counter a string", func(m map[string]string) { m["Counter"] = `"7"` }, "Counter", "string"},
		{"negative drift", func(m map[string]string) { m["Drift"] = `-1` }, "Drift", "negative"},
		{"bad pool", func(m map[string]string) { m["Pool"] = `"disk"` }, "Pool", "kernel"},
		{"credit too high", func(m map[string]string) { m["Credit"] = `9000` }, "Credit", "0 to 8192"},
		{"max frame too small", func(m map[string]string) { m["MaxFrame"] = `10` }, "MaxFrame", "bytes"},
		{"read timeout text", func(m map[string]string) { m["ReadTimeout"] = `"soon"` }, "ReadTimeout", "duration"},
		{"negative per-address cap", func(m map[string]string) { m["MaxConnsPerAddress"] = `-1` }, "MaxConnsPerAddress", "negative"},
		{"negative header timeout", func(m map[string]string) { m["HeaderTimeout"] = `"-1s"` }, "HeaderTimeout", "negative"},
		{"negative min rate", func(m map[string]string) { m["MinRate"] = `-5` }, "MinRate", "negative"},
		{"replay cache -2", func(m map[string]string) { m["ReplayCache"] = `-2` }, "ReplayCache", "-1 (off)"},
		{"signer entry without name", func(m map[string]string) {
			m["Signers"] = `[{"Signer": ` + good()["Signer"] + `}]`
		}, "Signers[0].Name", "missing"},
		{"signer entry bad base64", func(m map[string]string) {
			m["Signers"] = `[{"Name": "b", "Signer": "%%"}]`
		}, "Signers[0].Signer", "base64"},
		{"signer entry same key", func(m map[string]string) {
			m["Signers"] = `[{"Name": "b", "Signer": ` + good()["Signer"] + `}]`
		}, "Signers[0].Signer", `same key as signer "default"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(m)
			var b strings.Builder
			b.WriteString("{")
			first := true
			for k, v := range m {
				if !first {
					b.WriteString(",")
				}
				first = false
				b.WriteString(`"` + k + `":` + v)
			}
			b.WriteString("}")
			path := privateCopy(t, t.TempDir(), "sink.json", []byte(b.String()))
			_, err := LoadConfig(path)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || ce.Path != path ||
				!strings.Contains(err.Error(), tc.substr) || !strings.Contains(err.Error(), path+": "+tc.field+": ") {
				t.Fatalf("got %v (field %q), want field %s and %q", err, fieldOf(err), tc.field, tc.substr)
			}
		})
	}
}

func fieldOf(err error) string {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Field
	}
	return ""
}

// The sink never writes its configuration: members this version does not
// know are ignored, and after accepted packets the file has the same bytes
// and modification time, and the counter is in the state file.
func TestConfigNeverWritten(t *testing.T) {
	dir := t.TempDir()
	other := extraSigner(t, 0)
	cfg := testConfig(t, dir, func(c *Config) {
		c.Signers = []SignerConfig{{Name: "board", Signer: pkix(t, other), Counter: 10}}
	})
	raw := fileBytes(t, cfg.path)
	raw = bytes.Replace(raw, []byte(`"Name": "board",`), []byte(`"Name": "board", "Colour": "green", "Shelf": {"row": 2},`), 1)
	raw = bytes.Replace(raw, []byte(`"Address"`), []byte(`"Comment": "kept", "Address"`), 1)
	os.WriteFile(cfg.path, raw, 0o600)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(cfg.path, old, old)
	cfg, err := LoadConfig(cfg.path)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, cfg, Options{pool: &recordingPool{}})
	k := vectorKeys(t)
	for c := int64(10); c <= 12; c++ {
		want := packet.StatusAccepted
		if c == 10 { // at the configuration's floor
			want = packet.StatusCounter
		}
		if st, _ := send(t, addr, frame(t, other, packet.Protocol2, k.sinkPublic, c, epoch)); st != want {
			t.Fatalf("counter %d: %s, want %s", c, st, want)
		}
	}
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusAccepted {
		t.Fatalf("%s", st)
	}
	fi, err := os.Stat(cfg.path)
	if err != nil || !bytes.Equal(fileBytes(t, cfg.path), raw) || !fi.ModTime().Equal(old) {
		t.Fatalf("the configuration changed (mtime %v, was %v)", fi.ModTime(), old)
	}
	if got := storedCounters(t, cfg); got["board"] != 12 || got[DefaultSignerName] != 1 {
		t.Fatalf("stored counters %v", got)
	}
}

// Two signers feed one sink, each with its own counter.
func TestMultiSigner(t *testing.T) {
	dir := t.TempDir()
	b := extraSigner(t, 0)
	cfg := testConfig(t, dir, func(c *Config) {
		c.Counter = 5
		c.Signers = []SignerConfig{{Name: "board-b", Signer: pkix(t, b), Counter: 100}}
	})
	pool := &recordingPool{}
	s, addr := start(t, cfg, Options{pool: pool})
	k := vectorKeys(t)
	steps := []struct {
		key     int // 0: default, 1: board-b
		counter int64
		status  packet.Status
		value   int64
	}{
		{0, 6, packet.StatusAccepted, 0},
		{1, 6, packet.StatusCounter, 100}, // b's counter is its own
		{1, 101, packet.StatusAccepted, 0},
		{0, 7, packet.StatusAccepted, 0},
		{0, 101, packet.StatusAccepted, 0},
		{1, 101, packet.StatusCounter, 101},
	}
	for i, st := range steps {
		key := k.signer
		if st.key == 1 {
			key = b
		}
		if got, v := send(t, addr, frame(t, key, packet.Protocol2, k.sinkPublic, st.counter, epoch)); got != st.status || v != st.value {
			t.Fatalf("step %d: %s %d, want %s %d", i, got, v, st.status, st.value)
		}
	}
	if c := s.counters(); c["default"] != 101 || c["board-b"] != 101 {
		t.Fatalf("counters %v", c)
	}
	if c := storedCounters(t, cfg); c["default"] != 101 || c["board-b"] != 101 {
		t.Fatalf("on disk: %v", c)
	}
	if n := len(pool.all()); n != 4 {
		t.Fatalf("%d chunks fed", n)
	}
}

// A configuration with only Signers entries (no top-level Signer).
func TestSignersOnly(t *testing.T) {
	dir := t.TempDir()
	b := extraSigner(t, 1)
	cfg := testConfig(t, dir, func(c *Config) {
		c.Signer = nil
		c.Signers = []SignerConfig{{Name: "b", Signer: pkix(t, b)}}
	})
	_, addr := start(t, cfg, Options{pool: &recordingPool{}})
	k := vectorKeys(t)
	if st, _ := send(t, addr, frame(t, b, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusAccepted {
		t.Fatalf("%s", st)
	}
	if st, _ := send(t, addr, frame(t, k.signer, packet.Protocol2, k.sinkPublic, 1, epoch)); st != packet.StatusUnverified {
		t.Fatalf("unconfigured signer: %s", st)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig(vectors.Read(t, "sink.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := c.compile()
	if k.credit != DefaultCredit || k.maxConns != defaultMaxConns || k.readTimeout != defaultReadTimeout ||
		k.maxFrame != packet.DefaultMaxFrame || !k.pool.kernel || k.maxConnsPerAddr != defaultMaxConnsPerAddress ||
		k.headerTimeout != defaultHeaderTimeout || k.minRate != defaultMinRate || k.replayCache != defaultReplayCache {
		t.Fatalf("defaults: %+v", k)
	}
	c.ReplayCache = -1
	if k, _ := c.compile(); k.replayCache != 0 {
		t.Fatalf("ReplayCache -1: %d digests", k.replayCache)
	}
	c.ReplayCache = 0
	zero := 0
	c.Credit = &zero
	c.ReadTimeout = Duration(5e9)
	out, _ := c.Marshal()
	if !strings.Contains(string(out), `"Credit": 0`) || !strings.Contains(string(out), `"ReadTimeout": "5s"`) {
		t.Fatalf("explicit zero credit or timeout lost:\n%s", out)
	}
	again, err := ParseConfig(bytes.Replace(out, []byte(`"5s"`), []byte(`7`), 1))
	if err != nil || *again.Credit != 0 || again.ReadTimeout != Duration(7e9) {
		t.Fatalf("reparse: %v", err)
	}
}
