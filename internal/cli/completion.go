package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// CompleteWords completes a flag that takes one of words
// (cmd.RegisterFlagCompletionFunc).
func CompleteWords(words ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return withPrefix(words, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompletePool completes a --pool flag: "kernel", or "file:" followed by
// a path, which the shell completes as a file once "file:" is typed.
func CompletePool(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.HasPrefix(toComplete, "file:") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return withPrefix([]string{"kernel", "file:"}, toComplete), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

func withPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}
