package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// gendocs runs "tool __gendocs args..." on a fresh test command.
func gendocs(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	var got []string
	var key string
	var out, errb bytes.Buffer
	code = Execute(testCommand(&got, &key), append([]string{docsCommandName}, args...), &out, &errb)
	return code, errb.String()
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestDocsManPages(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // 2023-11-14T22:13:20Z
	man := filepath.Join(t.TempDir(), "man1")
	if code, errs := gendocs(t, "--man", man); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// One page per command; not the hidden completion command, not help.
	if names, want := dirNames(t, man), []string{"tool-decode.1", "tool.1"}; !slices.Equal(names, want) {
		t.Fatalf("man pages %q, want %q", names, want)
	}
	page, err := os.ReadFile(filepath.Join(man, "tool.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`.TH "TOOL" "1" "Nov 2023" "entropyshare `, `\fB--key\fP`, `\fB--version\fP`, `\fB--help\fP`, `\fBtool-decode(1)\fP`} {
		if !bytes.Contains(page, []byte(w)) {
			t.Errorf("tool.1 lacks %q:\n%s", w, page)
		}
	}
	for _, w := range []string{"Auto generated", docsCommandName, "completion"} {
		if bytes.Contains(page, []byte(w)) {
			t.Errorf("tool.1 contains %q:\n%s", w, page)
		}
	}

	// A rebuild writes the same bytes.
	again := filepath.Join(t.TempDir(), "man1")
	if code, errs := gendocs(t, "-man", again); code != 0 { // the original tools' single dash works here too
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, name := range []string{"tool.1", "tool-decode.1"} {
		a, _ := os.ReadFile(filepath.Join(man, name))
		b, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

func TestDocsCompletions(t *testing.T) {
	dir := t.TempDir()
	if code, errs := gendocs(t, "--completions", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for path, want := range map[string]string{
		"bash/tool":      "__start_tool",
		"zsh/_tool":      "#compdef tool",
		"fish/tool.fish": "complete -c tool",
	} {
		b, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	if names, want := dirNames(t, dir), []string{"bash", "fish", "zsh"}; !slices.Equal(names, want) {
		t.Errorf("--completions wrote %q, want %q", names, want)
	}
}

func TestDocsErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", nil, "tool: nothing to write"},
		{"", []string{"--man", dir, "extra"}, `unknown command "extra"`},
		{"yesterday", []string{"--man", dir}, `tool: SOURCE_DATE_EPOCH is "yesterday"`},
		{"-1", []string{"--man", dir}, `tool: SOURCE_DATE_EPOCH is "-1"`},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.env)
		code, errs := gendocs(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%q with SOURCE_DATE_EPOCH=%q: exit %d, stderr %q; want exit 2 and %q", tc.args, tc.env, code, errs, tc.want)
		}
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("failed runs wrote %q", names)
	}
}

// TestDocsCommandHidden checks that the docs command appears nowhere in a
// normal run (help, completions), and that a tool without subcommands gets
// no completion or help page from it.
func TestDocsCommandHidden(t *testing.T) {
	var got []string
	var key string
	for _, args := range [][]string{{"--help"}, {"__complete", ""}, {"__complete", "__"}} {
		var out, errb bytes.Buffer
		if code := Execute(testCommand(&got, &key), args, &out, &errb); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errb.String())
		}
		if strings.Contains(out.String(), docsCommandName) {
			t.Errorf("%q shows %s:\n%s", args, docsCommandName, out.String())
		}
	}

	single := &cobra.Command{Use: "one", Args: cobra.ArbitraryArgs, RunE: func(*cobra.Command, []string) error { return nil }}
	man := t.TempDir()
	var out, errb bytes.Buffer
	if code := Execute(single, []string{docsCommandName, "--man", man}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if names, want := dirNames(t, man), []string{"one.1"}; !slices.Equal(names, want) {
		t.Errorf("man pages %q, want %q", names, want)
	}
	if page, _ := os.ReadFile(filepath.Join(man, "one.1")); bytes.Contains(page, []byte("SEE ALSO")) {
		t.Errorf("one.1 refers to other pages:\n%s", page)
	}
}
