package source

import (
	"slices"
	"testing"
)

func TestMisspellings(t *testing.T) {
	want := []string{"Address", "Public", "Counter", "Next", "Name", "Protocol", "Interval", "LastError", "Failures", "LastSuccess"}
	for _, f := range want {
		if !slices.Contains(targetFields, f) {
			t.Errorf("targetFields %v lacks %s", targetFields, f)
		}
	}
	data := `[
		{"Address": "a:1", "Public": "` + goodPub + `", "Name": "a", "Protocl": 1, "Keep": true, "Adress": "x"},
		{"Address": "b:1", "Public": "` + goodPub + `", "Protocl": 2, "NEXTT": 5},
		{"Address": "c:1", "Public": "` + goodPub + `", "Protocl": 2, "Owner": "ops"}
	]`
	ts, err := parseTargets("t.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ts.Misspellings() {
		got = append(got, m.String())
	}
	exp := []string{
		`entry 0 (Name "a", Address "a:1"): unknown field "Adress" is kept but not used; did you mean "Address"?`,
		`entry 0 (Name "a", Address "a:1"): unknown field "Protocl" (also in entries 1, 2) is kept but not used; did you mean "Protocol"?`,
		`entry 1 (Address "b:1"): unknown field "NEXTT" is kept but not used; did you mean "Next"?`,
	}
	if !slices.Equal(got, exp) {
		t.Errorf("got\n%q\nwant\n%q", got, exp)
	}
}
