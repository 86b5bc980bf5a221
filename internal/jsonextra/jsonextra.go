// Package jsonextra keeps the JSON object fields a program does not know, so
// that rewriting a file written by a newer or older version loses nothing.
package jsonextra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Fields holds the members of a JSON object that the typed struct beside it
// does not declare, keyed by their name as written.
type Fields map[string]json.RawMessage

// Unmarshal decodes the JSON object data into v (a pointer to a struct) and
// returns the members that v's fields do not claim. Names match the way
// encoding/json matches them: the json tag or the field name, case-insensitively.
func Unmarshal(data []byte, v any) (Fields, error) {
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	known := knownNames(v)
	var extra Fields
	for name, raw := range all {
		if known[strings.ToLower(name)] {
			continue
		}
		if extra == nil {
			extra = Fields{}
		}
		extra[name] = raw
	}
	return extra, nil
}

// Marshal encodes v (a struct or pointer to one) as a JSON object, then
// appends the extra members in name order. Indentation is a tab, as the
// original entropyshare tools write their files, and a newline ends it.
func Marshal(v any, extra Fields) ([]byte, error) {
	compact, err := MarshalCompact(v, extra)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// MarshalCompact is Marshal without the indentation and the newline: for
// objects that go inside a larger document, indented once as a whole.
//
// Strings are written as they are, without the \u003c, \u003e and \u0026
// that json.Marshal puts for <, > and & (the files are read by programs
// and people, never pasted into HTML); stored members are kept as the
// file had them.
func MarshalCompact(v any, extra Fields) ([]byte, error) {
	base, err := marshal(v)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return base, nil
	}
	if len(base) < 2 || base[0] != '{' || base[len(base)-1] != '}' {
		return nil, fmt.Errorf("jsonextra: %T does not encode as an object", v)
	}
	var buf bytes.Buffer
	buf.Write(base[:len(base)-1])
	first := len(base) == 2
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		key, _ := marshal(name)
		buf.Write(key)
		buf.WriteByte(':')
		// Compacted: a stored member may hold the whitespace of the file
		// it came from.
		if err := json.Compact(&buf, extra[name]); err != nil {
			return nil, fmt.Errorf("jsonextra: member %q: %w", name, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func knownNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			tagName, _, _ := strings.Cut(tag, ",")
			if tagName == "-" {
				continue
			}
			if tagName != "" {
				name = tagName
			}
		}
		names[strings.ToLower(name)] = true
	}
	return names
}
