package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsCommandName is the hidden command the Makefile runs on each built
// binary to write its man pages and shell completions, so that they are
// made from the commands themselves and cannot drift from --help.
const docsCommandName = "__gendocs"

// docsCommand returns the command behind "NAME __gendocs". It is never
// added to root: Execute runs it in root's place when the first argument
// is its name. A subcommand of root, even a hidden one, would make cobra
// treat rsagen and the other single-command tools as having subcommands:
// they would gain a "completion" and a "help" command and refuse
// positional arguments.
func docsCommand(root *cobra.Command, now func() time.Time) *cobra.Command {
	var manDir, completionDir string
	cmd := &cobra.Command{
		Use:    root.Name() + " " + docsCommandName,
		Short:  "Write the man pages and shell completions of " + root.Name(),
		Hidden: true,
		Example: "  " + root.Name() + " " + docsCommandName + " --man man/man1 --completions completions\n" +
			"  SOURCE_DATE_EPOCH=1700000000 " + root.Name() + " " + docsCommandName + " --man man/man1",
		Long: `Write the man pages (section 1, one per command) and the bash, zsh and fish
completions of ` + root.Name() + `. Completions go to DIR/bash/NAME, DIR/zsh/_NAME and
DIR/fish/NAME.fish.

The man pages are dated from SOURCE_DATE_EPOCH (seconds since 1970, UTC)
when it is set, so that a rebuild writes the same bytes; otherwise today.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if manDir == "" && completionDir == "" {
				return Usagef("nothing to write: give --man DIR, --completions DIR or both")
			}
			prepareTree(root)
			if manDir != "" {
				date, err := sourceDate(now)
				if err != nil {
					return err
				}
				if err := writeManPages(root, manDir, date); err != nil {
					return err
				}
			}
			if completionDir != "" {
				if err := writeCompletions(root, completionDir); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "write the man pages into `DIR`")
	cmd.Flags().StringVar(&completionDir, "completions", "", "write the shell completions under `DIR`")
	return cmd
}

// prepareTree gives root what a real run adds during Execute (the help
// and version flags, the help and completion commands), so that the man
// pages show what --help shows. The completion command of entropy-sink and
// entropy-source is left out of the man pages: its pages only explain how
// to install the scripts, which the packages install.
func prepareTree(root *cobra.Command) {
	if root.Version == "" {
		root.Version = Version()
	}
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	root.InitDefaultHelpCmd()
	root.CompletionOptions.HiddenDefaultCmd = true
	root.InitDefaultCompletionCmd()
	visit(root, func(c *cobra.Command) { c.DisableAutoGenTag = true })
}

func visit(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		visit(sub, f)
	}
}

// sourceDate returns the date the man pages carry: SOURCE_DATE_EPOCH
// (https://reproducible-builds.org/specs/source-date-epoch/) if set, in UTC
// so that the time zone of the build cannot change the month.
func sourceDate(now func() time.Time) (time.Time, error) {
	s, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || s == "" {
		return now().UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, Usagef("SOURCE_DATE_EPOCH is %q, want seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func writeManPages(root *cobra.Command, dir string, date time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{
		Section: "1",
		Date:    &date,
		Source:  "entropyshare " + root.Version,
		Manual:  "entropyshare manual",
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("writing man pages: %w", err)
	}
	return nil
}

func writeCompletions(root *cobra.Command, dir string) error {
	name := root.Name()
	for _, s := range []struct {
		path string
		gen  func(*bytes.Buffer) error
	}{
		{filepath.Join("bash", name), func(b *bytes.Buffer) error { return root.GenBashCompletionV2(b, true) }},
		{filepath.Join("zsh", "_"+name), func(b *bytes.Buffer) error { return root.GenZshCompletion(b) }},
		{filepath.Join("fish", name+".fish"), func(b *bytes.Buffer) error { return root.GenFishCompletion(b, true) }},
	} {
		var b bytes.Buffer
		if err := s.gen(&b); err != nil {
			return fmt.Errorf("writing %s completion: %w", s.path, err)
		}
		path := filepath.Join(dir, s.path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
