package source

import (
	"os"
	"testing"
)

// The repository's targets.example.json is a valid targets file.
func TestExampleTargets(t *testing.T) {
	data, err := os.ReadFile("../targets.example.json")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := parseTargets("targets.example.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Entries) != 2 || ts.Entries[1].Proto() != 1 || ts.Entries[0].Proto() != 2 {
		t.Fatalf("entries %+v", ts.Entries)
	}
}
