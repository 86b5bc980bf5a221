package sink

import (
	"bytes"
	"os"
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

// FuzzParseConfig: no input makes ParseConfig panic; what it accepts
// encodes, parses back and encodes to the same bytes; and the committer's
// state template, when one is built, renders exactly what Marshal writes.
func FuzzParseConfig(f *testing.F) {
	f.Add(vectors.Read(f, "sink.json"))
	if data, err := os.ReadFile("../sink.example.json"); err == nil {
		f.Add(data)
		f.Add(withOwnKey(f, data))
	}
	multi := testConfig(f, f.TempDir(), func(c *Config) {
		c.Signers = []SignerConfig{{Name: "board1", Signer: pkix(f, extraSigner(f, 0)), Counter: 9, Legacy: true}}
	})
	if data, err := multi.Marshal(); err == nil {
		f.Add(data)
		f.Add(bytes.Replace(data, []byte("{"), []byte(`{"Zeta": [1, {"a": null}],`), 1))
	}
	f.Add([]byte(`{"Address": ":4141", "Counter": -1}`))
	f.Add([]byte(`{"Signers": [{"Name": "", "Signer": ""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("accepted configuration does not encode: %v", err)
		}
		back, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("its own encoding does not parse: %v\n%s", err, out)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("encoding changed on a round trip (%v):\n%s\n---\n%s", err, out, again)
		}
		k, err := c.compile()
		if err != nil {
			t.Fatalf("parsed but does not compile: %v", err)
		}
		tmpl := newStateTemplate(c, k.primary)
		if tmpl == nil {
			return
		}
		counters := counterList(c, k.primary)
		for i := range counters {
			counters[i] = counters[i]*3 + int64(i) + 1
		}
		setCounters(c, k.primary, func(i int) int64 { return counters[i] })
		want, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got := tmpl.render(counters); !bytes.Equal(got, want) {
			t.Fatalf("template renders\n%s\nMarshal gives\n%s", got, want)
		}
	})
}
