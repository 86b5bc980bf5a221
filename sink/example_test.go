package sink

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
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

	// With a key of its own, the rest of the example is valid.
	cfg, err := ParseConfig(withOwnKey(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Signers) != 1 || cfg.Signers[0].Name != "board2" || !cfg.Signers[0].Legacy {
		t.Fatalf("signers %+v", cfg.Signers)
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
