package main

import (
	"slices"
	"strings"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
)

// completeSources completes --sources, a comma-separated list of
// built-in source names: the names not yet in the list, after what is.
func completeSources(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	i := strings.LastIndex(toComplete, ",") + 1
	done, partial := strings.Split(toComplete[:i], ","), toComplete[i:]
	var out []string
	for _, name := range harvest.BuiltinSources {
		if strings.HasPrefix(name, partial) && !slices.Contains(done, name) {
			out = append(out, toComplete[:i]+name)
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// completeTargets completes send's arguments: the Names and Addresses in
// the targets file -t names.
func completeTargets(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	path, _ := cmd.Flags().GetString("targets")
	ts, err := source.LoadTargets(path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, t := range ts.Entries {
		for _, s := range []string{t.Name, t.Address} {
			if s != "" && strings.HasPrefix(s, toComplete) && !slices.Contains(args, s) && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
