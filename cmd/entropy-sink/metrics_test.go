package main

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/packet"
)

// The command's /metrics says which entropy-sink runs, with the process's
// and Go's metrics and each signer's clock offset.
func TestMetricsEndpoint(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "text")
	addr, metrics, stop := server(t, "-f", cfg, "--metrics", "127.0.0.1:9438")
	defer stop()
	if st := sendFrame(t, addr.String(), sealFrame(t, 1)); st != packet.StatusAccepted {
		t.Fatal(st)
	}
	resp, err := http.Get("http://" + metrics.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`entropyshare_sink_build_info{goversion="` + runtime.Version() + `",version="` + cli.Version() + `"} 1`,
		`entropyshare_sink_clock_offset_seconds_count{signer="default"} 1`,
		`entropyshare_sink_last_accepted_timestamp_seconds{signer="default"}`,
		"process_start_time_seconds",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
