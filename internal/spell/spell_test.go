package spell

import "testing"

// TestDistance: worked examples. kitten/sitting is the textbook
// Levenshtein example; ca/abc is the pair on which the unrestricted
// Damerau-Levenshtein distance (2) and optimal string alignment (3)
// differ.
func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "abc", 3},
		{"Protocol", "Protocol", 0},
		{"Protocl", "Protocol", 1},
		{"Protcool", "Protocol", 1},
		{"Porotcol", "Protocol", 2},
		{"Intervall", "Interval", 1},
		{"LastEror", "LastError", 1},
		{"protocol", "Protocol", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 2},
		{"ab", "ba", 1},
		{"abcdef", "badcfe", 3},
		{"café", "cafe", 1},
		{"Keep", "Next", 3},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetry)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"Address", "Public", "Counter", "Next", "Name", "Protocol", "Interval", "LastError", "Failures"}
	for _, tc := range []struct {
		word, want string
	}{
		{"Protocl", "Protocol"},
		{"PROTOCL", "Protocol"},
		{"adress", "Address"},
		{"Intreval", "Interval"},
		{"LastErr", "LastError"}, // two insertions
		{"Last", ""},             // five
		{"Keep", ""},             // nothing close
		{"Nmae", "Name"},         // transposition
		{"Nest", "Next"},         // Next (1) before Name (2)
		{"Failure", "Failures"},
	} {
		got, ok := Suggest(tc.word, known)
		if ok != (tc.want != "") || (ok && got != tc.want) {
			t.Errorf("Suggest(%q) = %q, %v; want %q", tc.word, got, ok, tc.want)
		}
	}
}

func FuzzDistance(f *testing.F) {
	f.Add("Protocol", "Protcol")
	f.Add("ca", "abc")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 64 || len(b) > 64 {
			return
		}
		d := Distance(a, b)
		la, lb := len([]rune(a)), len([]rune(b))
		if d != Distance(b, a) || d < max(la, lb)-min(la, lb) || d > max(la, lb) || (d == 0) != (string([]rune(a)) == string([]rune(b))) {
			t.Fatalf("Distance(%q, %q) = %d", a, b, d)
		}
	})
}
