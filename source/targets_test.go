package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/vectors"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source/sourcetest"
)

// TestOriginalTargetEntry: target.json, written by the original's
// entropy-target, loads as it is and is written back byte for byte.
func TestOriginalTargetEntry(t *testing.T) {
	path := vectors.Path(t, "target.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := parseTargets(path, data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.LoadCurve25519Public(vectors.Path(t, "sink.pub"))
	if err != nil {
		t.Fatal(err)
	}
	tg := ts.Entries[0]
	if len(ts.Entries) != 1 || tg.Address != "127.0.0.1:4141" || tg.Public != PublicKey(*pub) || tg.Counter != 0 || tg.Proto() != 2 || tg.Every() != DefaultInterval {
		t.Fatalf("parsed %+v", tg)
	}
	out, err := ts.marshal()
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("re-encoded:\n%s\nwant\n%s", out, data)
	}
	// The same entry in an array, as a targets file holds it.
	arr := append(append([]byte("[\n"), bytes.ReplaceAll(bytes.TrimSpace(data), []byte("\n"), []byte("\n\t"))...), "\n]\n"...)
	arr = append([]byte("[\n\t"), arr[2:]...)
	ts, err = parseTargets(path, arr)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := ts.marshal(); !bytes.Equal(out, arr) {
		t.Fatalf("array re-encoded:\n%s\nwant\n%s", out, arr)
	}
}

const goodPub = "ey7zgZ422whZvIkoAAEsz/+EgecB19gtAMCFNiPDnXU="

// TestBadTargets: every broken file is an error that names the entry and
// the field, is ErrConfig, and leaves the file's bytes as they were.
func TestBadTargets(t *testing.T) {
	key := testSigner(t)
	good := `{"Address":"a.example:1","Public":"` + goodPub + `","Counter":3,"Name":"first"}`
	tests := []struct {
		name, data string // data "" with name "missing": no file
		want       []string
	}{
		{"missing", "", []string{"no such file"}},
		{"empty", "", []string{"empty"}},
		{"blank", " \n", []string{"empty"}},
		{"truncated", `[` + good + `,{"Address":"b:1","Pub`, []string{"ends too early"}},
		{"syntax", `[` + good + `,}]`, []string{"not valid JSON at byte"}},
		{"number", `42`, []string{"JSON number", "want an array"}},
		{"entry not object", `[` + good + `,"x"]`, []string{"entry 1", "JSON string"}},
		{"counter string", `[` + good + `,{"Name":"vps2","Address":"b:1","Public":"` + goodPub + `","Counter":"7"}]`,
			[]string{"entry 1", `Name "vps2"`, `Address "b:1"`, "field Counter", "want an integer"}},
		{"next float", `[{"Address":"b:1","Public":"` + goodPub + `","Next":1.5}]`, []string{"entry 0", "field Next"}},
		{"public short", `[{"Address":"b:1","Public":"AAAA"}]`, []string{"entry 0", "field Public", "3 bytes"}},
		{"public not base64", `[{"Address":"b:1","Public":"!!"}]`, []string{"field Public", "base64"}},
		{"public number", `[{"Address":"b:1","Public":5}]`, []string{"field Public", "want a base64 string"}},
		{"public missing", `[{"Address":"b:1"}]`, []string{"field Public", "missing"}},
		{"address missing", `[{"Public":"` + goodPub + `"}]`, []string{"entry 0", "field Address", "missing"}},
		{"address no port", `[{"Address":"b","Public":"` + goodPub + `"}]`, []string{"field Address", "host:port"}},
		{"address port 0", `[{"Address":"b:0","Public":"` + goodPub + `"}]`, []string{"field Address", `bad port "0"`}},
		{"address port too high", `[{"Address":"b:65536","Public":"` + goodPub + `"}]`, []string{"field Address", `bad port "65536"`}},
		{"negative counter", `[{"Address":"b:1","Public":"` + goodPub + `","Counter":-1}]`, []string{"field Counter", "negative"}},
		{"protocol 3", `[{"Address":"b:1","Public":"` + goodPub + `","Protocol":3}]`, []string{"field Protocol", "want 1 or 2"}},
		{"negative last success", `[{"Address":"b:1","Public":"` + goodPub + `","LastSuccess":-1}]`, []string{"field LastSuccess", "negative"}},
		{"duplicate", `[` + good + `,` + good + `]`, []string{"entry 1", "same Address and Public as entry 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "targets.json")
			if tc.name != "missing" {
				if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Run(context.Background(), Config{Targets: path, Signer: key})
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "source: "+path) {
				t.Errorf("error %q does not start with the file", err)
			}
			after, rerr := os.ReadFile(path)
			if tc.name == "missing" {
				if !errors.Is(rerr, fs.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("missing file: %v / created: %v", err, rerr)
				}
				return
			}
			if string(after) != tc.data {
				t.Errorf("file changed: %q", after)
			}
		})
	}
}

// TestUnresolvable: a name that cannot resolve fails that target only,
// clearly, and every other entry and unknown field survives.
func TestUnresolvable(t *testing.T) {
	key := testSigner(t)
	s := sourcetest.Start(t, sourcetest.OK, &key.PublicKey)
	path := filepath.Join(t.TempDir(), "targets.json")
	sourcetest.WriteTargets(t, path, []entry{
		{"Address": "no-such-sink.invalid:4141", "Public": goodPub, "Counter": 5, "Keep": "me"},
		sourcetest.Entry(s, entry{"Other": true}),
	})
	rep, err := Run(context.Background(), Config{Targets: path, Signer: key, DialTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 1 || rep.Results[0].Delivered || !rep.Results[1].Delivered {
		t.Fatalf("results %+v", rep.Results)
	}
	ts := mustLoad(t, path)
	bad := ts.Entries[0]
	if !strings.Contains(bad.LastError, "no-such-sink.invalid") || bad.Counter != 6 || string(bad.extra["Keep"]) != `"me"` {
		t.Errorf("unresolvable entry after the run: %+v %v", bad, bad.extra)
	}
	if string(ts.Entries[1].extra["Other"]) != "true" || ts.Entries[1].Counter != 1 {
		t.Errorf("good entry after the run: %+v", ts.Entries[1])
	}
}

// TestJump: how far a 0x02 reply may move our counter.
func TestJump(t *testing.T) {
	for _, tc := range []struct {
		ours, stored, want int64
	}{
		{5, 5, 6},
		{5, 1000, 1001},
		{5, 5 + maxCounterJump, 6 + maxCounterJump},
		{5, 6 + maxCounterJump, 0},
		{5, 4, 0},
		{5, 1<<63 - 1, 0},
	} {
		got, err := jump(tc.ours, tc.stored)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("jump(%d, %d) = %d, %v; want %d", tc.ours, tc.stored, got, err, tc.want)
		}
	}
}

// TestBackoff: failures back off from minBackoff, doubling, up to Interval.
func TestBackoff(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tg := &Target{Interval: 600}
	var got []int64
	for range 6 {
		schedule(tg, &Result{err: errors.New("x")}, now, zeroReader{})
		got = append(got, tg.Next-now.Unix())
	}
	want := []int64{60, 120, 240, 480, 600, 600}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
	if tg.LastSuccess != 0 {
		t.Fatalf("LastSuccess %d after failures only", tg.LastSuccess)
	}
	schedule(tg, &Result{Delivered: true}, now, zeroReader{})
	if tg.Next != now.Unix()+600 || tg.Failures != 0 || tg.LastError != "" || tg.LastSuccess != now.Unix() {
		t.Fatalf("after delivery: %+v", tg)
	}
}

// TestAppend: appending keeps other entries and their unknown fields,
// creates a missing file and refuses a duplicate.
func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	var pk PublicKey
	pk[0] = 1
	first := &Target{Address: "a:1", Public: pk, Name: "a"}
	if err := Append(context.Background(), path, first, time.Second); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	data = bytes.Replace(data, []byte(`"Name": "a"`), []byte(`"Name": "a", "Mine": [1]`), 1)
	os.WriteFile(path, data, 0o644)
	os.Chmod(path, 0o640)
	second := &Target{Address: "b:1", Public: pk, Protocol: 1}
	if err := Append(context.Background(), path, second, time.Second); err != nil {
		t.Fatal(err)
	}
	ts := mustLoad(t, path)
	if len(ts.Entries) != 2 || compact(ts.Entries[0].extra["Mine"]) != "[1]" || ts.Entries[1].Protocol != 1 {
		t.Fatalf("after append: %+v %+v\n%s", ts.Entries[0], ts.Entries[1], data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640 kept", fi.Mode())
	}
	before, _ := os.ReadFile(path)
	if err := Append(context.Background(), path, second, time.Second); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("refused append changed the file")
	}
}

// FuzzParseTargets: the parser never panics, and what it accepts
// re-encodes to a fixed point that parses to the same entries.
func FuzzParseTargets(f *testing.F) {
	f.Add(vectors.Read(f, "target.json"))
	if data, err := os.ReadFile("../targets.example.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"Address":"a:1","Public":"` + goodPub + `","Counter":1,"X":{"y":null}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := parseTargets("f", data)
		if err != nil {
			return
		}
		once, err := ts.marshal()
		if err != nil {
			t.Fatal(err)
		}
		ts2, err := parseTargets("f", once)
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v\n%s", err, once)
		}
		twice, _ := ts2.marshal()
		if !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point:\n%s\n%s", once, twice)
		}
	})
}

func compact(raw []byte) string {
	var b bytes.Buffer
	json.Compact(&b, raw)
	return b.String()
}
