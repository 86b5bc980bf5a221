package cli

import (
	"bytes"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func testCommand(got *[]string, key *string) *cobra.Command {
	root := &cobra.Command{Use: "tool", Args: cobra.ArbitraryArgs, RunE: func(c *cobra.Command, args []string) error {
		*got = args
		return nil
	}}
	root.Flags().StringVar(key, "key", "", "")
	root.Flags().BoolP("armour", "a", false, "")
	root.Flags().IntP("size", "s", 0, "")
	sub := &cobra.Command{Use: "decode", RunE: func(c *cobra.Command, args []string) error {
		return Hint(Exit(3, errors.New("nothing healthy")), "add a source")
	}}
	sub.Flags().Int64("at", 0, "")
	root.AddCommand(sub)
	return root
}

func TestLegacyArgs(t *testing.T) {
	var got []string
	var key string
	root := testCommand(&got, &key)
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-key", "f", "-s", "2048", "-a"}, []string{"--key", "f", "-s", "2048", "-a"}},
		{[]string{"-key=f"}, []string{"--key=f"}},
		{[]string{"-as", "1"}, []string{"-as", "1"}},     // a shorthand cluster, not a long name
		{[]string{"--", "-key"}, []string{"--", "-key"}}, // after --, arguments are left alone
		{[]string{"decode", "-at", "5"}, []string{"decode", "--at", "5"}},
	} {
		if out := LegacyArgs(root, tc.in); !slices.Equal(out, tc.want) {
			t.Errorf("LegacyArgs(%q) = %q, want %q", tc.in, out, tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := Execute(root, []string{"-key", "signer.key", "x"}, &out, &errb); code != 0 || key != "signer.key" || !slices.Equal(got, []string{"x"}) {
		t.Fatalf("exit %d key %q args %q: %s", code, key, got, errb.String())
	}
}

func TestExitCodesAndHints(t *testing.T) {
	var got []string
	var key string
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"decode"}, 3, []string{"tool: nothing healthy", "hint: add a source"}},
		{[]string{"--nope"}, 2, []string{"unknown flag: --nope", "hint: see 'tool --help'"}},
		{[]string{"-s", "many"}, 2, []string{"invalid argument"}},
	} {
		var out, errb bytes.Buffer
		code := Execute(testCommand(&got, &key), tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (%s)", tc.args, code, tc.code, errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%q: stderr %q lacks %q", tc.args, errb.String(), w)
			}
		}
	}
}

// --version prints the version, Go's version and the platform; it has no
// short form, so -v is an unknown flag (exit 2) wherever it is not defined.
func TestVersion(t *testing.T) {
	var got []string
	var key string
	root := testCommand(&got, &key)
	root.Version = "0.2.0"
	var out, errb bytes.Buffer
	if code := Execute(root, []string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "tool 0.2.0 (go") || !strings.HasSuffix(out.String(), "/"+runtime.GOARCH+")\n") {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := Execute(testCommand(&got, &key), []string{"-v"}, &out, &errb); code != 2 || out.Len() != 0 {
		t.Errorf("-v: exit %d, stdout %q, want exit 2", code, out.String())
	}
}
