package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
)

const statusExitCodes = `
Exit status:
  0  the file was read and every target printed
  2  usage or configuration error: bad flag, missing or broken targets file`

func statusCommand(e env) *cobra.Command {
	var (
		targetsPath string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "status [-t targets.json] [--json]",
		Short: "Print every target's counter, next due time, failures and last error",
		Long: `status prints one line per target of the targets file: its name, address,
protocol, last counter used, when it is next due (local time, and "in
5h12m" or "overdue"), its consecutive failures, when it was last delivered
to and the last error. With --json it prints a JSON array instead, one
object per target, times in Unix seconds.

It reads the file without taking the run's lock, so it works while a run
or a daemon is busy; what it prints is the file as the last write left it.
` + statusExitCodes,
		Example: `  entropy-source status
  entropy-source status -t /var/lib/entropyshare/targets.json
  entropy-source status --json | jq '.[] | select(.Failures > 0)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := source.LoadTargets(targetsPath)
			if err != nil {
				return exitError(err)
			}
			warnMisspellings(cmd.ErrOrStderr(), targetsPath, ts.Misspellings(), nil)
			now := e.now()
			if asJSON {
				return writeStatusJSON(cmd.OutOrStdout(), ts, now)
			}
			return writeStatus(cmd.OutOrStdout(), ts, now)
		},
	}
	cmd.Flags().StringVarP(&targetsPath, "targets", "t", "targets.json", "targets file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

func writeStatus(w io.Writer, ts *source.Targets, now time.Time) error {
	if len(ts.Entries) == 0 {
		_, err := fmt.Fprintln(w, "no targets")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tPROTOCOL\tCOUNTER\tNEXT DUE\tFAILURES\tLAST DELIVERED\tLAST ERROR")
	for _, t := range ts.Entries {
		name := t.Name
		if name == "" {
			name = "-"
		}
		last := "never"
		if t.LastSuccess != 0 {
			last = ago(now.Sub(time.Unix(t.LastSuccess, 0)))
		}
		lastErr := t.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\n", name, t.Address, t.Proto(), t.Counter, nextDue(t.Next, now), t.Failures, last, oneLine(lastErr))
	}
	return tw.Flush()
}

// nextDue says when a target is due: local time and "in 5h12m", or
// "overdue" once that time has come.
func nextDue(next int64, now time.Time) string {
	if next == 0 {
		return "- (overdue)"
	}
	at := time.Unix(next, 0)
	when := at.Local().Format("2006-01-02 15:04:05 MST")
	if !at.After(now) {
		return when + " (overdue)"
	}
	return when + " (in " + short(at.Sub(now)) + ")"
}

// ago is "5h12m ago", or "just now".
func ago(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return short(d) + " ago"
}

// short writes a positive duration as people read it: "42s", "12m",
// "5h12m", "3d4h".
func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// oneLine keeps a table row on one line whatever LastError holds.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// statusEntry is one target in status --json: the file's names, the
// defaults filled in.
type statusEntry struct {
	Name        string
	Address     string
	Public      source.PublicKey
	Protocol    int
	Interval    int64 // seconds
	Counter     int64
	Next        int64 // Unix seconds; 0: never scheduled
	Due         bool  // Next has come
	Failures    int
	LastSuccess int64 // Unix seconds; 0: never
	LastError   string
}

func writeStatusJSON(w io.Writer, ts *source.Targets, now time.Time) error {
	out := make([]statusEntry, 0, len(ts.Entries))
	for _, t := range ts.Entries {
		out = append(out, statusEntry{
			Name: t.Name, Address: t.Address, Public: t.Public,
			Protocol: int(t.Proto()), Interval: int64(t.Every() / time.Second),
			Counter: t.Counter, Next: t.Next, Due: t.Next <= now.Unix(),
			Failures: t.Failures, LastSuccess: t.LastSuccess, LastError: t.LastError,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	return enc.Encode(out)
}
