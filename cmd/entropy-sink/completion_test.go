package main

import (
	"strings"
	"testing"
)

// The shells complete --log-format, --log-level and --pool with what they
// take.
func TestFlagCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", ""}, "text\njson\n:4\n"},
		{[]string{"--log-format", "j"}, "json\n:4\n"},
		{[]string{"--log-level", "w"}, "warn\n:4\n"},
		{[]string{"seed", "--pool", ""}, "kernel\nfile:\n:6\n"},
		{[]string{"pull", "--pool", "k"}, "kernel\n:6\n"},
		{[]string{"pull", "--pool", "file:/tm"}, ":0\n"},
	} {
		code, out, stderr := run(t, defaultEnv(), append([]string{"__complete"}, tc.args...)...)
		if code != 0 || out != tc.want {
			t.Errorf("%s: exit %d, %q, want %q\n%s", strings.Join(tc.args, " "), code, out, tc.want, stderr)
		}
	}
}
