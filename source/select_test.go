package source

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestSelect: which entries a run sends to, by Next, Force and Only; an
// unknown name is a configuration error.
func TestSelect(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ts := &Targets{Entries: []*Target{
		{Address: "a:1", Name: "a"},                        // due
		{Address: "b:1", Name: "b", Next: now.Unix() + 60}, // not yet
		{Address: "c:1", Next: now.Unix() + 60},            // not yet, no name
	}}
	for _, tc := range []struct {
		only  []string
		force bool
		want  []int
	}{
		{nil, false, []int{0}},
		{nil, true, []int{0, 1, 2}},
		{[]string{"b"}, false, nil},
		{[]string{"b"}, true, []int{1}},
		{[]string{"c:1", "a"}, true, []int{0, 2}},
		{[]string{"a:1"}, false, []int{0}},
	} {
		c := Config{Targets: "t.json", Only: tc.only, Force: tc.force}
		got, err := c.selectDue(ts, now)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("only %q force %v: %v, %v; want %v", tc.only, tc.force, got, err, tc.want)
		}
	}
	c := Config{Targets: "t.json", Only: []string{"a", "nope", "b:2"}}
	_, err := c.selectDue(ts, now)
	if !errors.Is(err, ErrNoSuchTarget) || !errors.Is(err, ErrConfig) || err.Error() != `source: t.json: no such target: no entry has the Name or Address "nope", "b:2"` {
		t.Errorf("unknown names: %v", err)
	}
}

// TestForcedRunAndPlan: Plan shows what a forced run to one named target
// would send and changes nothing (no lock file either); the run then
// sends exactly that.
func TestForcedRunAndPlan(t *testing.T) {
	key := testSigner(t)
	a := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	b := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	later := time.Now().Add(time.Hour).Unix()
	before := sourcetest.WriteTargets(t, path, []entry{
		sourcetest.Entry(a, entry{"Name": "a", "Counter": 7, "Next": later}),
		sourcetest.Entry(b, entry{"Name": "b", "Next": later}),
	})
	cfg := Config{Targets: path, Signer: key, Only: []string{"a"}, Force: true}
	plan, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Results) != 1 || plan.Results[0].Target.Name != "a" || plan.Results[0].Counter != 8 || plan.Results[0].Delivered {
		t.Fatalf("plan %+v", plan.Results)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("Plan changed the file")
	}
	if _, err := os.Lstat(path + lockSuffix); !os.IsNotExist(err) {
		t.Fatalf("Plan made a lock file: %v", err)
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil || len(rep.Results) != 1 || !rep.Results[0].Delivered {
		t.Fatalf("run: %v %+v", err, rep)
	}
	if !slices.Equal(a.Accepted(), []int64{8}) || len(b.Received()) != 0 {
		t.Fatalf("a accepted %v, b received %v", a.Accepted(), b.Received())
	}
}
