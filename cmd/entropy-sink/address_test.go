package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/sink"
)

// editConfig rewrites the configuration at path with edit applied,
// without checking it (it may be made broken on purpose).
func editConfig(t testing.TB, path string, edit func(*sink.Config)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c sink.Config
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	edit(&c)
	if data, err = c.Marshal(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A listen address the sink can never listen on is a configuration error,
// exit 2, which the unit does not restart: one without a port or with one
// out of range (found when the file is loaded), a host that does not
// resolve or is not this machine's (found when listening). A port in use
// may free itself: exit 1, and the unit tries again.
func TestListenAddressErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	type tc struct {
		address, metrics string
		flags            []string
		code             int
		want             string
	}
	cases := []tc{
		{address: "127.0.0.1", code: 2, want: `Address: "127.0.0.1": missing port in address`},
		{address: ":99999", code: 2, want: `Address: ":99999": port "99999", want a number from 1 to 65535`},
		{address: ":0", code: 2, want: `port "0"`},
		{address: "192.0.2.1:4141", code: 2, want: "Address: listen tcp 192.0.2.1:4141: bind: cannot assign requested address"},
		{address: "ok", metrics: "localhost", code: 2, want: `Metrics: "localhost": missing port in address`},
		{address: "ok", metrics: "192.0.2.1:9438", code: 2, want: "Metrics: listen tcp 192.0.2.1:9438"},
		{address: "ok", flags: []string{"--metrics", "127.0.0.1:99999"}, code: 2, want: `--metrics: "127.0.0.1:99999": port "99999"`},
		{address: busy.Addr().String(), code: 1, want: "address already in use"},
	}
	// A name that does not resolve, where this machine's resolver says so
	// (NXDOMAIN) rather than failing to ask.
	const nowhere = "nonexistent.invalid"
	if _, err := net.LookupHost(nowhere); err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			cases = append(cases, tc{address: nowhere + ":4141", code: 2, want: "Address: listen tcp: lookup " + nowhere})
		} else {
			t.Logf("no resolver answers here (%v): the unresolvable name is not tried", err)
		}
	}
	for _, c := range cases {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, "text")
		editConfig(t, cfg, func(sc *sink.Config) {
			if c.address != "ok" {
				sc.Address = c.address
			}
			sc.Metrics = c.metrics
		})
		// A sink that does start is stopped after a while: that is a failure too.
		e := defaultEnv()
		e.stopContext = func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 2*time.Second)
		}
		code, _, stderr := run(t, e, append([]string{"-f", cfg}, c.flags...)...)
		if code != c.code || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "hint:") {
			t.Errorf("Address %q, Metrics %q %v: exit %d, want %d and %q:\n%s", c.address, c.metrics, c.flags, code, c.code, c.want, stderr)
		}
	}
}
