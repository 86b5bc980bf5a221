package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// A misspelled field ("Metric") is warned about at start, naming both
// names; the field meant keeps its default (no metrics listener).
func TestMisspelledFieldWarned(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "text")
	data, _ := os.ReadFile(cfg)
	data = bytes.Replace(data, []byte(`"Address"`), []byte(`"Metric": "127.0.0.1:9438", "Comment": "far from every field", "Address"`), 1)
	os.WriteFile(cfg, data, 0o600)

	_, metrics, stop := server(t, "-f", cfg)
	code, logs := stop()
	if code != 0 || metrics != nil {
		t.Fatalf("exit %d, metrics %v\n%s", code, metrics, logs)
	}
	if !strings.Contains(logs, `level=WARN msg="configuration: unknown field is ignored, its default used; misspelled?" file=`+cfg+` field=Metric known=Metrics`) {
		t.Fatalf("no warning naming Metric and Metrics:\n%s", logs)
	}
	if strings.Contains(logs, "Comment") {
		t.Fatalf("a field far from every known one was questioned:\n%s", logs)
	}
}
