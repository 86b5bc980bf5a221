package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/internal/testtool/testpki"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/source"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// httpsTestSink is an HTTPS listener that wants a client certificate from
// ca.crt in dir and accepts every packet, as a sink answers (it checks
// nothing: the source package's tests use a real sink).
func httpsTestSink(t *testing.T, dir string) string {
	t.Helper()
	testpki.Write(t, dir, []string{"ca"}, map[string]testpki.Cert{
		"sink":   testpki.Server("ca", "sink1"),
		"board1": testpki.Client("ca", "board1"),
	})
	tc, err := tlsca.ServerConfig(filepath.Join(dir, "sink.crt"), filepath.Join(dir, "sink.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/packet" || r.Header.Get("Content-Type") != "application/octet-stream" {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"accepted"}` + "\n"))
	}))
	s.TLS = tc
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL
}

// A run with an https:// and a TCP target: without --tls-cert the https
// one fails alone (exit 1, its counter untouched); with it both are
// delivered, and the next run resumes the TLS session.
func TestHTTPSTargets(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	url := httpsTestSink(t, dir)
	tcp := sourcetest.Start(t, sourcetest.OK, signerPublic(t, dir))
	targets := filepath.Join(dir, "targets.json")
	pub := base64.StdEncoding.EncodeToString(tcp.Public[:])
	sourcetest.WriteTargets(t, targets, []map[string]any{
		{"Address": url, "Public": pub, "Counter": 0, "Name": "vps-https"},
		sourcetest.Entry(tcp, map[string]any{"Name": "vps-tcp"}),
	})
	code, out, errs := run(t, testEnv(), "-k", key, "-t", targets)
	if code != 1 || !strings.Contains(out, "vps-https ("+url+"): FAILED, counter 0: https:// target, but no client certificate was given (entropy-source --tls-cert and --tls-key)") ||
		!strings.Contains(out, "vps-tcp (") || !strings.Contains(errs, "1 of 2 due targets failed") {
		t.Fatalf("without --tls-cert: exit %d\n%s%s", code, out, errs)
	}
	ts, err := source.LoadTargets(targets)
	if err != nil || ts.Entries[0].Counter != 0 || ts.Entries[1].Counter != 1 {
		t.Fatalf("%v %+v %+v", err, ts.Entries[0], ts.Entries[1])
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	tlsFlags := []string{"--tls-cert", p("board1.crt"), "--tls-key", p("board1.key"), "--tls-ca", p("ca.crt")}
	for i, want := range []string{"delivered, counter 1, protocol 2", "delivered, TLS resumed, counter 2, protocol 2"} {
		code, out, errs = run(t, testEnv(), append([]string{"send", "--now", "--verbose", "-k", key, "-t", targets}, tlsFlags...)...)
		if code != 0 || !strings.Contains(out, "vps-https ("+url+"): "+want) {
			t.Fatalf("run %d: exit %d\n%s%s", i+1, code, out, errs)
		}
	}
	if fi, err := os.Stat(targets + ".tls-sessions"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v %v", fi, err)
	}
}

// --tls-* files that cannot be used stop the run at once: exit 2.
func TestHTTPSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	key := keyFile(t, dir)
	httpsTestSink(t, dir)
	targets := filepath.Join(dir, "targets.json")
	os.WriteFile(targets, []byte("[]"), 0o644)
	p := func(n string) string { return filepath.Join(dir, n) }
	os.WriteFile(p("open.key"), mustRead(t, p("board1.key")), 0o644)
	os.Chmod(p("open.key"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-key", p("board1.key")}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-ca", p("ca.crt")}, "--tls-ca without --tls-cert"},
		{[]string{"--tls-cert", p("board1.crt"), "--tls-key", p("open.key")}, "chmod 600"},
		{[]string{"--tls-cert", p("board1.crt"), "--tls-key", p("board1.key"), "--tls-ca", p("missing.crt")}, "missing.crt"},
		{[]string{"--tls-cert", p("ca.crt"), "--tls-key", p("board1.key")}, "hint: make a client certificate"},
	} {
		code, _, errs := run(t, testEnv(), append([]string{"-k", key, "-t", targets}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d: %s", tc.args, code, errs)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
