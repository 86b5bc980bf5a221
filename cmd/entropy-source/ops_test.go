package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestNoHTMLEscapes: the targets file a run writes holds LastError, Name
// and unknown fields as written, ">" and "&" included, not \u003e.
func TestNoHTMLEscapes(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	s := sourcetest.Start(t, sourcetest.Slow, pub, sourcetest.WithDelay(5*time.Second))
	targets := filepath.Join(dir, "targets.json")
	// By hand: json.Marshal, which sourcetest.WriteTargets uses, escapes.
	entry := fmt.Sprintf(`[{"Address": %q, "Public": %q, "Name": "<vps&1>", "Note": "a -> b"}]`,
		s.Addr, base64.StdEncoding.EncodeToString(s.Public[:]))
	if err := os.WriteFile(targets, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, testEnv(), "-k", filepath.Join(dir, "signer.key"), "-t", targets, "--timeout", "200ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errs)
	}
	data, err := os.ReadFile(targets)
	if err != nil {
		t.Fatal(err)
	}
	// A timed-out read says "read tcp 127.0.0.1:PORT->127.0.0.1:PORT".
	for _, want := range []string{`"Name": "<vps&1>"`, `"Note": "a -> b"`, `->127.0.0.1:`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("file lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), `\u00`) {
		t.Errorf("file has HTML escapes:\n%s", data)
	}
}
