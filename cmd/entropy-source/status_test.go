package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fixedEnv is testEnv with the clock stopped at now.
func fixedEnv(now time.Time) env {
	e := testEnv()
	e.now = func() time.Time { return now }
	return e
}

const statusPub = "ey7zgZ422whZvIkoAAEsz/+EgecB19gtAMCFNiPDnXU="

func TestStatus(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.json")
	data := `[
	{"Address": "a.example:4141", "Public": "` + statusPub + `", "Counter": 13, "Next": ` + itoa(now.Add(5*time.Hour+12*time.Minute+30*time.Second).Unix()) + `,
	 "Name": "vps1", "LastSuccess": ` + itoa(now.Add(-2*time.Hour).Unix()) + `},
	{"Address": "b.example:4141", "Public": "` + statusPub + `", "Counter": 2, "Next": ` + itoa(now.Add(-time.Minute).Unix()) + `,
	 "Protocol": 1, "Failures": 3, "LastError": "connecting: dial tcp: lookup b.example: no such host"},
	{"Address": "c.example:4141", "Public": "` + statusPub + `", "Counter": 0, "Protocl": 1}
]`
	if err := os.WriteFile(targets, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	// A run holds the lock: status does not wait for it.
	lf, err := os.OpenFile(targets+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, fixedEnv(now), "status", "-t", targets)
	t.Logf("status:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	local := func(d time.Duration) string { return now.Add(d).Local().Format("2006-01-02 15:04:05 MST") }
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 lines:\n%s", out)
	}
	for i, want := range [][]string{
		{"NAME", "ADDRESS", "PROTOCOL", "COUNTER", "NEXT DUE", "FAILURES", "LAST DELIVERED", "LAST ERROR"},
		{"vps1 ", "a.example:4141", " 2 ", " 13 ", local(5*time.Hour+12*time.Minute+30*time.Second) + " (in 5h12m)", " 0 ", "2h00m ago", " -"},
		{"- ", "b.example:4141", " 1 ", " 2 ", local(-time.Minute) + " (overdue)", " 3 ", "never", "lookup b.example: no such host"},
		{"- ", "c.example:4141", " 2 ", " 0 ", "- (overdue)", "never"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q:\n%s", i, w, lines[i])
			}
		}
	}
	if !strings.Contains(errs, `unknown field "Protocl"`) {
		t.Errorf("no misspelling warning: %q", errs)
	}

	code, out, _ = run(t, fixedEnv(now), "status", "-t", targets, "--json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got) != 3 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if got[0]["Name"] != "vps1" || got[0]["Due"] != false || got[0]["Protocol"] != 2.0 || got[0]["Interval"] != 21600.0 ||
		got[1]["Due"] != true || got[1]["Failures"] != 3.0 || got[2]["Due"] != true || got[0]["LastSuccess"] != float64(now.Add(-2*time.Hour).Unix()) {
		t.Errorf("--json:\n%s", out)
	}

	for _, name := range []string{"nosuch.json", "folder/"} {
		code, _, errs = run(t, fixedEnv(now), "status", "-t", filepath.Join(dir, name))
		if code != 2 || !strings.HasPrefix(errs, "entropy-source: ") {
			t.Errorf("%s: exit %d: %s", name, code, errs)
		}
		if _, err := os.Lstat(filepath.Join(dir, name) + ".lock"); !os.IsNotExist(err) {
			t.Errorf("%s: lock file made", name)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
