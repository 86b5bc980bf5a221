package sink

import (
	"encoding/base64"
	"slices"
	"testing"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

// Unknown members close to a field are questioned, at the top and in each
// Signers entry; a field written in another case is the field (as
// encoding/json reads it), and a name far from every field is only kept.
func TestMisspellings(t *testing.T) {
	signer := base64.StdEncoding.EncodeToString(vectors.Read(t, "signer.pub"))
	data := `{"Address": ":4141", "Private": "` + base64.StdEncoding.EncodeToString(vectors.Read(t, "sink.key")) + `",
		"Signer": "` + signer + `", "Metric": "127.0.0.1:9438", "drift": 30, "Comment": "kept", "Dirft": 5, "Pool ": "kernel",
		"Signers": [{"Name": "b", "Signer": "` + base64.StdEncoding.EncodeToString(pkix(t, extraSigner(t, 0))) + `", "Legasy": true, "Countr": 3}]}`
	c, err := ParseConfig([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Misspelling{{"Dirft", "Drift"}, {"Metric", "Metrics"}, {"Pool ", "Pool"}, {"Signers[0].Countr", "Counter"}, {"Signers[0].Legasy", "Legacy"}}
	if got := c.Misspellings(); !slices.Equal(got, want) {
		t.Fatalf("misspellings %v, want %v", got, want)
	}
	if c.Drift != 30 || c.Metrics != "" || c.Signers[0].Legacy {
		t.Fatalf("decoded %+v", c)
	}
	if s := want[1].String(); s != `unknown field "Metric" is ignored; did you mean "Metrics"?` {
		t.Fatalf("String: %s", s)
	}
}

// A field left at its zero value by a misspelling, when that stops the
// sink, is blamed on the misspelling.
func TestMisspellingBlamed(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(vectors.Read(t, "sink.key"))
	signer := base64.StdEncoding.EncodeToString(vectors.Read(t, "signer.pub"))
	for data, want := range map[string]string{
		`{"Adress": ":4141", "Private": "` + key + `", "Signer": "` + signer + `"}`:                              `sink: Address: missing (the file has "Adress": misspelled?)`,
		`{"Address": ":4141", "Private": "` + key + `", "Signers": [{"Nmae": "b", "Signer": "` + signer + `"}]}`: `sink: Signers[0].Name: missing (the file has "Signers[0].Nmae": misspelled?)`,
	} {
		if _, err := ParseConfig([]byte(data)); err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	}
}
