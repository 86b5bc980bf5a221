// Package cli holds what every entropyshare command shares: running a cobra
// command with the original tools' single-dash flags, printing errors with
// hints, mapping errors to exit codes, and the version string.
package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes shared by every command. A command may define more (the
// source's 1 and 3) by returning an *ExitError.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// version is set with -ldflags "-X .../internal/cli.version=v1.2.3".
var version = ""

// Version returns the version stamped at build time (a release tag, or
// 0.2.0-devel+COMMIT from the Makefile), or, for a plain go build,
// 0.0.0-devel+COMMIT from what Go recorded.
func Version() string {
	if version != "" {
		return strings.TrimPrefix(version, "v")
	}
	v := "0.0.0-devel"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := info.Main.Version; mv != "" && mv != "(devel)" {
		return strings.TrimPrefix(mv, "v")
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

// versionLine is what --version prints: the version, Go's version and the
// platform the binary was built for.
func versionLine(name, version string) string {
	return fmt.Sprintf("%s %s (%s, %s/%s)\n", name, version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// ExitError carries the exit code a command wants.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit wraps err so that Execute exits with code.
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Usage marks err as a usage or configuration error (exit 2).
func Usage(err error) error { return Exit(ExitUsage, err) }

// Usagef formats a usage error.
func Usagef(format string, args ...any) error { return Usage(fmt.Errorf(format, args...)) }

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// Hint attaches a "hint:" line, printed under the error.
func Hint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err, hint}
}

// Execute runs cmd with args, prints any error as "NAME: error" (and its
// hints) on stderr and returns the exit code: the one an *ExitError carries,
// ExitUsage for flag and argument errors cobra reports, ExitFail otherwise.
//
// "NAME __gendocs ..." runs the hidden command that writes cmd's man pages
// and shell completions (see docsCommand) instead of cmd.
func Execute(cmd *cobra.Command, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == docsCommandName {
		return Execute(docsCommand(cmd, time.Now), args[1:], stdout, stderr)
	}
	cmd.SetArgs(LegacyArgs(cmd, args))
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	if cmd.Version == "" {
		cmd.Version = Version()
	}
	cmd.SetVersionTemplate(versionLine(cmd.Name(), cmd.Version))
	// --version has no short form: -v means --verbose to some tools, and
	// only the original's single-letter flags have one (README).
	if cmd.Flags().Lookup("version") == nil {
		cmd.Flags().Bool("version", false, "print the version, Go's version and the platform, and exit")
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return Hint(Usage(err), "see '"+c.CommandPath()+" --help'")
	})
	err := cmd.Execute()
	if err == nil {
		return ExitOK
	}
	name := cmd.Name()
	msg := err.Error()
	// Errors from packages already carry their prefix; keep one.
	if !strings.HasPrefix(msg, name+": ") {
		msg = name + ": " + msg
	}
	fmt.Fprintln(stderr, msg)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if h, ok := e.(*hinted); ok {
			fmt.Fprintln(stderr, "hint: "+h.hint)
		}
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if isCobraUsage(err) {
		return ExitUsage
	}
	return ExitFail
}

// isCobraUsage recognises the argument errors cobra makes itself.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "accepts ") ||
		strings.HasPrefix(s, "requires at least") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "required flag")
}

// LegacyArgs rewrites the original tools' Go-flag style "-key FILE" (one dash,
// a long name) to "--key FILE", so their documentation and scripts keep
// working. Only names that are long flags of the command being run are
// rewritten; "-s 4096" and clusters of shorthands are left alone.
func LegacyArgs(root *cobra.Command, args []string) []string {
	target := root
	if c, _, err := root.Find(args); err == nil && c != nil {
		target = c
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && lookup(target, name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

func lookup(c *cobra.Command, name string) *pflag.Flag {
	if f := c.Flags().Lookup(name); f != nil {
		return f
	}
	return c.InheritedFlags().Lookup(name)
}
