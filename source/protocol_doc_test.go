package source

import (
	"os"
	"strings"
	"testing"
)

// docs/PROTOCOL.md has a row for every field of a targets-file entry.
func TestProtocolDocumentsEveryField(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range targetFields {
		if !strings.Contains(string(doc), "| `"+n+"` |") {
			t.Errorf("PROTOCOL.md has no row for %s", n)
		}
	}
}
