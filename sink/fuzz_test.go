package sink

import (
	"bytes"
	"os"
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

// FuzzParseConfig: no input makes ParseConfig panic, and what it accepts
// encodes, parses back and encodes to the same bytes.
func FuzzParseConfig(f *testing.F) {
	f.Add(vectors.Read(f, "sink.json"))
	if data, err := os.ReadFile("../sink.example.json"); err == nil {
		f.Add(data)
		f.Add(withOwnKey(f, data))
	}
	multi := testConfig(f, f.TempDir(), func(c *Config) {
		c.Signers = []SignerConfig{{Name: "board1", Signer: pkix(f, extraSigner(f, 0)), Counter: 9, Legacy: true}}
		c.State = "/var/lib/entropyshare/sink.state"
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
	})
}

// FuzzStateFile: no contents make decodeState panic, and a state it
// accepts is exactly what its slot encodes. The inputs are the two slots
// without their trailing zeros (the fuzzer minimises small inputs far
// faster), padded back to one block each.
func FuzzStateFile(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		es := make([]entry, n)
		for i := range es {
			es[i] = entry{fp: fingerprint{byte(i), byte(i >> 8), 1}, counter: int64(i) * 1000, stored: 1700000000 + int64(i)}
		}
		a, b := make([]byte, blockSize), make([]byte, blockSize)
		encodeSlot(a, 7, es)
		encodeSlot(b, 8, es[:n/2])
		f.Add(bytes.TrimRight(a, "\x00"), bytes.TrimRight(b, "\x00"))
		f.Add(bytes.TrimRight(a, "\x00"), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) > blockSize || len(b) > blockSize {
			return
		}
		data := make([]byte, 2*blockSize)
		copy(data, a)
		copy(data[blockSize:], b)
		l, err := decodeState(data)
		if err != nil {
			return
		}
		again := make([]byte, l.slotSize)
		encodeSlot(again, l.seq, l.entries)
		if !bytes.Equal(again, data[l.slot*l.slotSize:(l.slot+1)*l.slotSize]) {
			t.Fatalf("slot %d decodes to %d entries that encode differently", l.slot, len(l.entries))
		}
	})
}
