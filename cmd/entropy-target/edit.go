package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
)

// edit does --list or --remove NAME on the targets file at path.
func edit(cmd *cobra.Command, list bool, remove, path string, lockWait time.Duration) error {
	if !list {
		if remove == "" {
			return cli.Usagef("--remove: give the Name or Address of the entry")
		}
		t, err := source.Remove(context.Background(), path, remove, lockWait)
		if err != nil {
			return editError(err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "entropy-target: removed %s from %s\n", describe(t), path)
		return nil
	}
	ts, err := source.List(context.Background(), path, lockWait)
	if err != nil {
		return editError(err)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tPROTOCOL\tINTERVAL\tCOUNTER\tSINK KEY")
	for _, t := range ts.Entries {
		name := t.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", name, t.Address, t.Proto(), t.Every(), t.Counter,
			keys.Curve25519Fingerprint((*[keys.Curve25519Size]byte)(&t.Public)))
	}
	return tw.Flush()
}

func describe(t *source.Target) string {
	if t.Name != "" {
		return t.Name + " (" + t.Address + ")"
	}
	return t.Address
}

func editError(err error) error {
	switch {
	case errors.Is(err, source.ErrNoSuchTarget):
		return cli.Hint(cli.Usage(err), "see the entries with: entropy-target --list --targets FILE")
	case errors.Is(err, source.ErrConfig):
		return cli.Usage(err)
	}
	return err
}

// completeEntries completes --remove: the Names and Addresses in the
// targets file at path (read without the lock).
func completeEntries(path, prefix string) []string {
	ts, err := source.LoadTargets(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range ts.Entries {
		for _, s := range []string{t.Name, t.Address} {
			if s != "" && strings.HasPrefix(s, prefix) {
				out = append(out, s)
			}
		}
	}
	return out
}
