package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/entropyshare/entropyshare/internal/spell"
)

// A Misspelling is a member of the configuration that no field has, whose
// name is within spell.MaxDistance of one that the same object may hold
// ("Metric" for "Metrics"). encoding/json ignores it, so the field meant
// keeps its default: the sink says so rather than run without metrics, or
// with exact clocks, in silence.
type Misspelling struct {
	Field string // the member as written, with where it is: "Metric", "Signers[1].Legasy"
	Known string // the field it is probably meant to be: "Metrics", "Legacy"
}

func (m Misspelling) String() string {
	return fmt.Sprintf("unknown field %q is ignored; did you mean %q?", m.Field, m.Known)
}

// Misspellings returns the configuration's unknown members that look like
// misspelled fields, sorted by where they are (nil for a configuration
// not parsed from JSON).
func (c *Config) Misspellings() []Misspelling { return c.misspelled }

// blameMisspelling adds to a *ConfigError about a field (say "Address:
// missing") the misspelled member that was probably meant to set it
// ("Adress").
func blameMisspelling(err error, ms []Misspelling) error {
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field == "" {
		return err
	}
	for _, m := range ms {
		at := m.Field[:strings.LastIndex(m.Field, ".")+1]
		if at+m.Known == ce.Field {
			ce.Err = fmt.Errorf("%w (the file has %q: misspelled?)", ce.Err, m.Field)
			break
		}
	}
	return err
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// misspellings walks the JSON object data as encoding/json would decode
// it into a t, and returns its members that match no field of t (as
// encoding/json matches: ignoring case) but are close to one. It descends
// into struct fields, slices of structs and maps of structs, so that an
// entry of Signers is questioned as a SignerConfig. Data that is not what
// t expects is left to json.Unmarshal to report.
func misspellings(data []byte, t reflect.Type, where string) []Misspelling {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil
	}
	var out []Misspelling
	switch t.Kind() {
	case reflect.Struct:
		names, fields := jsonFields(t)
		for _, m := range members(data) {
			f, ok := fields[strings.ToLower(m.name)]
			if !ok {
				if known, ok := spell.Suggest(m.name, names); ok {
					out = append(out, Misspelling{Field: where + m.name, Known: known})
				}
				continue
			}
			out = append(out, misspellings(m.value, f.Type, where+f.Name+".")...)
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // []byte: base64 text
		}
		var items []rawRef
		if json.Unmarshal(data, &items) != nil {
			return nil
		}
		base := strings.TrimSuffix(where, ".")
		for i, item := range items {
			out = append(out, misspellings(item, t.Elem(), fmt.Sprintf("%s[%d].", base, i))...)
		}
	case reflect.Map:
		base := strings.TrimSuffix(where, ".")
		for _, m := range members(data) {
			out = append(out, misspellings(m.value, t.Elem(), fmt.Sprintf("%s[%q].", base, m.name))...)
		}
	}
	return out
}

// jsonFields returns the names t's fields have in JSON, and the fields by
// their lowercased names.
func jsonFields(t reflect.Type) ([]string, map[string]reflect.StructField) {
	var names []string
	fields := map[string]reflect.StructField{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		fields[strings.ToLower(name)] = f
	}
	return names, fields
}

type member struct {
	name  string
	value []byte // a slice of the data given to members: never copied
}

// rawRef keeps the bytes of a JSON value without copying them, so that
// the private key's text is not copied where LoadConfig cannot clear it.
type rawRef []byte

func (r *rawRef) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// members returns the members of the JSON object data, sorted by name, or
// nil when data is not an object.
func members(data []byte) []member {
	var m map[string]rawRef
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	out := make([]member, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, member{name, m[name]})
	}
	return out
}

// logMisspellings warns of each of c's misspellings, naming both fields.
func (c *Config) logMisspellings(log *slog.Logger) {
	for _, m := range c.misspelled {
		log.Warn("configuration: unknown field is ignored, its default used; misspelled?",
			"file", c.path, "field", m.Field, "known", m.Known)
	}
}
