package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestSendNow: send --now NAME sends to that target whatever its Next;
// without --now only if due; an unknown name is exit 2 and sends nothing.
func TestSendNow(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	key := filepath.Join(dir, "signer.key")
	a := sourcetest.Start(t, sourcetest.OK, pub)
	b := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	later := time.Now().Add(time.Hour).Unix()
	sourcetest.WriteTargets(t, targets, []map[string]any{
		sourcetest.Entry(a, map[string]any{"Name": "vps1", "Counter": 4, "Next": later}),
		sourcetest.Entry(b, map[string]any{"Name": "vps2", "Next": later}),
	})

	before, _ := os.ReadFile(targets)
	code, out, errs := run(t, testEnv(), "send", "--now", "-k", key, "-t", targets, "vps1", "nosuch", "b.example:1")
	if code != 2 || !strings.Contains(errs, `no such target: no entry has the Name or Address "nosuch", "b.example:1"`) || out != "" {
		t.Fatalf("unknown names: exit %d\n%s\n%s", code, out, errs)
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(after, before) || len(a.Received())+len(b.Received()) != 0 {
		t.Fatal("an unknown name changed the file or sent something")
	}

	code, out, errs = run(t, testEnv(), "send", "-k", key, "-t", targets, "vps1")
	if code != 0 || out != "" || errs != "" || len(a.Received()) != 0 {
		t.Fatalf("send without --now to a target not due: exit %d, %q %q, sent %v", code, out, errs, a.Received())
	}

	code, out, errs = run(t, testEnv(), "send", "--now", "-k", key, "-t", targets, "--verbose", "vps1")
	if code != 0 || !strings.Contains(out, "vps1 ("+a.Addr+"): delivered, counter 5") {
		t.Fatalf("send --now vps1: exit %d\n%s\n%s", code, out, errs)
	}
	if !slices.Equal(a.Accepted(), []int64{5}) || len(b.Received()) != 0 {
		t.Fatalf("a accepted %v, b received %v", a.Accepted(), b.Received())
	}
	ts, err := source.LoadTargets(targets)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Entries[0].Next <= time.Now().Unix()+int64(source.DefaultInterval/time.Second)-60 || ts.Entries[1].Next != later {
		t.Errorf("after: %+v %+v", ts.Entries[0], ts.Entries[1])
	}

	// By Address, and all with no name.
	code, _, errs = run(t, testEnv(), "send", "--now", "-k", key, "-t", targets, b.Addr)
	if code != 0 || !slices.Equal(b.Accepted(), []int64{1}) {
		t.Fatalf("send --now ADDRESS: exit %d %s, b accepted %v", code, errs, b.Accepted())
	}
	code, _, errs = run(t, testEnv(), "send", "--now", "-k", key, "-t", targets)
	if code != 0 || !slices.Equal(a.Accepted(), []int64{5, 6}) || !slices.Equal(b.Accepted(), []int64{1, 2}) {
		t.Fatalf("send --now: exit %d %s, accepted %v %v", code, errs, a.Accepted(), b.Accepted())
	}
}

// TestDryRun: --dry-run prints the targets and counters a run would use,
// and sends, signs and writes nothing (no lock file either); the key is
// still checked.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	pub := signerPublic(t, dir)
	key := filepath.Join(dir, "signer.key")
	a := sourcetest.Start(t, sourcetest.OK, pub)
	b := sourcetest.Start(t, sourcetest.OK, pub)
	targets := filepath.Join(dir, "targets.json")
	before := sourcetest.WriteTargets(t, targets, []map[string]any{
		sourcetest.Entry(a, map[string]any{"Name": "vps1", "Counter": 9}),
		sourcetest.Entry(b, map[string]any{"Name": "vps2", "Next": time.Now().Add(time.Hour).Unix()}),
	})
	for _, tc := range []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"--dry-run"}, []string{"dry run: vps1 (" + a.Addr + "): would send counter 10, protocol 2"}, "vps2"},
		{[]string{"send", "--now", "--dry-run"}, []string{"vps1 (" + a.Addr + "): would send counter 10", "vps2 (" + b.Addr + "): would send counter 1"}, "\x00"},
		{[]string{"send", "--dry-run", "vps2"}, []string{"dry run: nothing to send of 2 targets; next due"}, "would send"},
	} {
		args := append(tc.args, "-k", key, "-t", targets)
		code, out, errs := run(t, testEnv(), args...)
		if code != 0 || errs != "" || strings.Contains(out, tc.not) {
			t.Errorf("%v: exit %d\n%s\n%s", tc.args, code, out, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if after, _ := os.ReadFile(targets); !bytes.Equal(after, before) || len(a.Received())+len(b.Received()) != 0 {
		t.Fatal("a dry run changed the file or sent something")
	}
	if _, err := os.Lstat(targets + ".lock"); !os.IsNotExist(err) {
		t.Errorf("a dry run made the lock file: %v", err)
	}
	code, _, errs := run(t, testEnv(), "--dry-run", "-k", filepath.Join(dir, "none.key"), "-t", targets)
	if code != 2 || !strings.Contains(errs, "none.key") {
		t.Errorf("dry run with no key: exit %d %s", code, errs)
	}
	if code, _, _ := run(t, testEnv(), "--dry-run", "--daemon", "-k", key, "-t", targets); code != 2 {
		t.Errorf("--dry-run --daemon: exit %d", code)
	}
}

// TestCompletion: --sources completes the built-in source names after a
// comma; send completes the targets file's Names and Addresses.
func TestCompletion(t *testing.T) {
	code, out, _ := run(t, testEnv(), "__complete", "--sources", "kernel,")
	if code != 0 || !strings.Contains(out, "kernel,jitter\n") || strings.Contains(out, "kernel,kernel") || !strings.HasSuffix(out, ":6\n") {
		t.Errorf("--sources kernel,: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, testEnv(), "__complete", "status", "--sources", "hw")
	if code != 0 || !strings.HasPrefix(out, "hwrng\n:6") {
		t.Errorf("status --sources hw: exit %d\n%s", code, out)
	}
	targets := filepath.Join(t.TempDir(), "targets.json")
	os.WriteFile(targets, []byte(`[{"Address": "a.example:1", "Public": "`+statusPub+`", "Name": "vps1"}, {"Address": "b.example:1", "Public": "`+statusPub+`"}]`), 0o644)
	code, out, _ = run(t, testEnv(), "__complete", "send", "-t", targets, "vps1", "")
	if code != 0 || out != "a.example:1\nb.example:1\n:4\n" {
		t.Errorf("send NAME: exit %d\n%q", code, out)
	}
}
