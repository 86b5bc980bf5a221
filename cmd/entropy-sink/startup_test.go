package main

import (
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/sink"
)

// The start-up line says what the sink runs with: version, listen
// address, pool, credit, drift, each signer by name and fingerprint, and
// the state file; a configuration without Drift (exact clocks) is warned
// about.
func TestStartupLine(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "text")
	editConfig(t, cfg, func(c *sink.Config) { c.Drift = 0 })
	pub, err := keys.ParseRSAPublic(vectors.Read(t, "signer.pub"))
	if err != nil {
		t.Fatal(err)
	}
	addr, _, stop := server(t, "-f", cfg)
	code, logs := stop()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, logs)
	}
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "msg=listening") {
			line = l
		}
	}
	for _, want := range []string{
		"version=" + cli.Version(),
		"address=" + addr.String(),
		`pool=file:` + dir + `/pool.bin`,
		"credit=256",
		"drift=0",
		`signers="default ` + keys.Fingerprint(pub) + `"`,
		"state=" + dir + "/sink.state",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("start-up line lacks %s:\n%s", want, line)
		}
	}
	if !strings.Contains(logs, `level=WARN msg="Drift is 0: a packet is accepted only when its timestamp is the sink's clock to the second`) {
		t.Errorf("no warning about Drift 0:\n%s", logs)
	}
}
