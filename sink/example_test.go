package sink

import (
	"os"
	"testing"
)

// The repository's sink.example.json is a valid configuration.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../sink.example.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Signers) != 1 || cfg.Signers[0].Name != "board2" || !cfg.Signers[0].Legacy {
		t.Fatalf("signers %+v", cfg.Signers)
	}
}
