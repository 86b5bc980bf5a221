package source

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/entropyshare/entropyshare/internal/spell"
)

// A Misspelling is an unknown field of a targets-file entry whose name is
// close to a known one ("Protocl" for "Protocol"). The field is kept, as
// every unknown field is, and the known field takes its default.
type Misspelling struct {
	Field string // the unknown field's name, as written
	Known string // the field it is probably meant to be
	// Entries are the indexes (from 0) of the entries that have Field.
	Entries []int
	// Name and Address are those of the first of them.
	Name, Address string
}

func (m Misspelling) String() string {
	var b strings.Builder
	b.WriteString(entryLabel(m.Entries[0], m.Name, m.Address))
	fmt.Fprintf(&b, ": unknown field %q", m.Field)
	if more := m.Entries[1:]; len(more) > 0 {
		s := make([]string, len(more))
		for i, e := range more {
			s[i] = fmt.Sprint(e)
		}
		word := "entry"
		if len(more) > 1 {
			word = "entries"
		}
		fmt.Fprintf(&b, " (also in %s %s)", word, strings.Join(s, ", "))
	}
	fmt.Fprintf(&b, " is kept but not used; did you mean %q?", m.Known)
	return b.String()
}

// targetFields are the names of Target's fields in the file.
var targetFields = func() []string {
	var names []string
	for f := range reflect.TypeFor[Target]().Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}()

// Misspellings returns the unknown fields of ts's entries that are within
// spell.MaxDistance of a known field, ignoring case: one per field name,
// in the order of the entries that first have them.
func (ts *Targets) Misspellings() []Misspelling {
	var out []Misspelling
	at := map[string]int{} // field name -> index in out
	for i, t := range ts.Entries {
		for _, field := range slices.Sorted(maps.Keys(t.extra)) {
			if k, ok := at[field]; ok {
				out[k].Entries = append(out[k].Entries, i)
				continue
			}
			known, ok := spell.Suggest(field, targetFields)
			if !ok {
				continue
			}
			at[field] = len(out)
			out = append(out, Misspelling{Field: field, Known: known, Entries: []int{i}, Name: t.Name, Address: t.Address})
		}
	}
	return out
}
