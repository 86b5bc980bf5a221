package jsonextra

import (
	"strings"
	"testing"
)

type target struct {
	Address string
	Counter int64
	Name    string `json:",omitempty"`
	Skip    string `json:"-"`
	Renamed int    `json:"other_name"`
}

func TestRoundTripKeepsUnknownFields(t *testing.T) {
	in := `{"address":"a:1","Counter":3,"Future":{"x":[1,2]},"Skip":"kept","other_name":4,"Zeta":true}`
	var v target
	extra, err := Unmarshal([]byte(in), &v)
	if err != nil {
		t.Fatal(err)
	}
	if v.Address != "a:1" || v.Counter != 3 || v.Renamed != 4 {
		t.Fatalf("decoded %+v", v)
	}
	// "Skip" is tagged "-": encoding/json ignores it, so it is unknown here.
	if len(extra) != 3 || string(extra["Future"]) != `{"x":[1,2]}` || string(extra["Skip"]) != `"kept"` {
		t.Fatalf("extra = %v", extra)
	}
	v.Counter = 4
	out, err := Marshal(&v, extra)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n\t\"Address\": \"a:1\",\n\t\"Counter\": 4,\n\t\"other_name\": 4,\n\t\"Future\": {\n\t\t\"x\": [\n\t\t\t1,\n\t\t\t2\n\t\t]\n\t},\n\t\"Skip\": \"kept\",\n\t\"Zeta\": true\n}\n"
	if string(out) != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", out, want)
	}
	if _, err := Unmarshal([]byte(`[1]`), &v); err == nil {
		t.Fatal("array accepted as object")
	}
	if _, err := Unmarshal([]byte(`{"Counter":"x"}`), &v); err == nil || !strings.Contains(err.Error(), "Counter") {
		t.Fatalf("wrong type: %v", err)
	}
}

// TestNoHTMLEscapes: <, > and & are written as they are, in known
// fields and in the names of unknown ones; stored members keep their bytes.
func TestNoHTMLEscapes(t *testing.T) {
	v := target{Address: "a:1", Name: "<x&y>"}
	out, err := MarshalCompact(&v, Fields{"a->b": []byte(`"kept \u003e"`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Address":"a:1","Counter":0,"Name":"<x&y>","other_name":0,"a->b":"kept \u003e"}`
	if string(out) != want {
		t.Fatalf("MarshalCompact =\n%s\nwant\n%s", out, want)
	}
}
