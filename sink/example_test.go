package sink

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The repository's sink.example.json is a valid configuration except for
// its published private key, which no sink may run with.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../sink.example.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseConfig(data)
	var ce *ConfigError
	if !errors.Is(err, errExampleKey) || !errors.As(err, &ce) || ce.Field != "Private" {
		t.Fatalf("example key: err = %v, want ErrExampleKey on Private", err)
	}

	// With a key of its own, the rest of the example is valid: ParseConfig
	// does not look for the HTTPS listener's files, LoadConfig looks for
	// them beside the configuration.
	own := withOwnKey(t, data)
	cfg, err := ParseConfig(own)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Signers) != 1 || cfg.Signers[0].Name != "board2" || !cfg.Signers[0].Legacy {
		t.Fatalf("signers %+v", cfg.Signers)
	}
	if cfg.HTTPS == nil || !cfg.HTTPS.Clients["board1"].Push || cfg.HTTPS.Clients["web1"].BytesPerDay != 1<<20 {
		t.Fatalf("HTTPS %+v", cfg.HTTPS)
	}
	dir := newPKI(t)
	path := privateCopy(t, dir, "sink.json", own)
	if _, err := LoadConfig(path); !errors.As(err, &ce) || ce.Field != "HTTPS.Cert" || ce.Path != path || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no sink1.crt beside it: %v", err)
	}
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Link(filepath.Join(dir, "sink"+ext), filepath.Join(dir, "sink1"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Dir() != dir {
		t.Fatalf("Dir %q, want %q", cfg.Dir(), dir)
	}
	// The packages' paths: the seed beside the state file, where the seed
	// service looks for it.
	if cfg.BootSeedPath() != "/var/lib/entropyshare/boot-seed" || cfg.BootSeedPath() != BootSeedPath(cfg.StatePath()) {
		t.Fatalf("BootSeed %q", cfg.BootSeedPath())
	}
}

// withOwnKey replaces the example's private key with a fresh one.
func withOwnKey(t testing.TB, data []byte) []byte {
	t.Helper()
	const example = "zmKAECnHrC5HZ8z5VjnQyy14H0Zm0fOrVgLe2Wv/GaY="
	var k [32]byte
	rand.Read(k[:])
	if strings.Count(string(data), example) != 1 {
		t.Fatalf("sink.example.json does not hold the example key once")
	}
	return []byte(strings.Replace(string(data), example, base64.StdEncoding.EncodeToString(k[:]), 1))
}

// sink.example.json shows every field a configuration can hold, at every
// level (Signers' entries, and any object field): a field added to Config
// without an example fails here. It has no unknown field either.
func TestExampleShowsEveryField(t *testing.T) {
	data, err := os.ReadFile("../sink.example.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, missing := range missingFields(data, reflect.TypeFor[Config](), "") {
		t.Errorf("sink.example.json lacks %s", missing)
	}
	cfg, err := ParseConfig(withOwnKey(t, data))
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Misspellings(); len(m) != 0 {
		t.Errorf("misspellings: %v", m)
	}
	var top map[string]json.RawMessage
	json.Unmarshal(data, &top)
	names, _ := jsonFields(reflect.TypeFor[Config]())
	for k := range top {
		if !slices.Contains(names, k) {
			t.Errorf("sink.example.json has %q, which is no field", k)
		}
	}
}

// missingFields returns the fields of t (as JSON names them) that the
// JSON object data lacks, descending into object fields, each entry of a
// list of objects and each value of a map of objects.
func missingFields(data []byte, t reflect.Type, where string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return []string{where + " (not an object)"}
		}
		names, fields := jsonFields(t)
		for _, n := range names {
			v, ok := obj[n]
			if !ok {
				out = append(out, where+n)
				continue
			}
			out = append(out, missingFields(v, fields[strings.ToLower(n)].Type, where+n+".")...)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		var items []json.RawMessage
		json.Unmarshal(data, &items)
		if len(items) == 0 {
			return []string{strings.TrimSuffix(where, ".") + " (an empty list shows no entry's fields)"}
		}
		for i, item := range items {
			out = append(out, missingFields(item, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(where, "."), i))...)
		}
	case reflect.Map:
		var m map[string]json.RawMessage
		json.Unmarshal(data, &m)
		for k, v := range m {
			out = append(out, missingFields(v, t.Elem(), fmt.Sprintf("%s[%q].", strings.TrimSuffix(where, "."), k))...)
		}
	}
	return out
}

// docs/PROTOCOL.md has a row for every field of the sink configuration,
// and for every field of a Signers entry.
func TestProtocolDocumentsEveryField(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	names, fields := jsonFields(reflect.TypeFor[Config]())
	for _, n := range names {
		if !strings.Contains(string(doc), "| `"+n+"` |") {
			t.Errorf("PROTOCOL.md has no row for %s", n)
		}
		if ft := fields[strings.ToLower(n)].Type; ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			subs, _ := jsonFields(ft.Elem())
			for _, sub := range subs {
				if !strings.Contains(string(doc), "| `"+n+"[]."+sub+"` |") {
					t.Errorf("PROTOCOL.md has no row for %s[].%s", n, sub)
				}
			}
		}
	}
}
