package sink

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's sink.example.json is a valid configuration except for
// its published private key, which no sink may run with.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../sink.example.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseConfig(data)
	var ce *ConfigError
	if !errors.Is(err, errExampleKey) || !errors.As(err, &ce) || ce.Field != "Private" {
		t.Fatalf("example key: err = %v, want ErrExampleKey on Private", err)
	}

	// With a key of its own, the rest of the example is valid: ParseConfig
	// does not look for the HTTPS listener's files, LoadConfig looks for
	// them beside the configuration.
	own := withOwnKey(t, data)
	cfg, err := ParseConfig(own)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Signers) != 1 || cfg.Signers[0].Name != "board2" || !cfg.Signers[0].Legacy {
		t.Fatalf("signers %+v", cfg.Signers)
	}
	if cfg.HTTPS == nil || !cfg.HTTPS.Clients["board1"].Push || cfg.HTTPS.Clients["web1"].BytesPerDay != 1<<20 {
		t.Fatalf("HTTPS %+v", cfg.HTTPS)
	}
	dir := newPKI(t)
	path := privateCopy(t, dir, "sink.json", own)
	if _, err := LoadConfig(path); !errors.As(err, &ce) || ce.Field != "HTTPS.Cert" || ce.Path != path || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no sink1.crt beside it: %v", err)
	}
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Link(filepath.Join(dir, "sink"+ext), filepath.Join(dir, "sink1"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Dir() != dir {
		t.Fatalf("Dir %q, want %q", cfg.Dir(), dir)
	}
	// The packages' paths: the seed beside the state file, where the seed
	// service looks for it.
	if cfg.BootSeedPath() != "/var/lib/entropyshare/boot-seed" || cfg.BootSeedPath() != BootSeedPath(cfg.StatePath()) {
		t.Fatalf("BootSeed %q", cfg.BootSeedPath())
	}
}

// withOwnKey replaces the example's private key with a fresh one.
func withOwnKey(t testing.TB, data []byte) []byte {
	t.Helper()
	const example = "zmKAECnHrC5HZ8z5VjnQyy14H0Zm0fOrVgLe2Wv/GaY="
	var k [32]byte
	rand.Read(k[:])
	if strings.Count(string(data), example) != 1 {
		t.Fatalf("sink.example.json does not hold the example key once")
	}
	return []byte(strings.Replace(string(data), example, base64.StdEncoding.EncodeToString(k[:]), 1))
}
