package main

import (
	"fmt"
	"io"
	"time"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
)

func sendCommand(e env, hcfg *harvest.Config, seedPath *string) *cobra.Command {
	r := &runner{e: e, hcfg: hcfg, seedPath: seedPath}
	cmd := &cobra.Command{
		Use:   "send [--now] [--dry-run] [-k signer.key] [-t targets.json] [NAME|ADDRESS...]",
		Short: "Send to the named targets (or all) now, whatever their next due time",
		Long: `send makes a run limited to the targets named, by Name or Address (all of
them when none is named). With --now it sends to each of them whatever its
Next, as after adding a sink or fixing one; without, only to those that are
due. Everything else is as in a run: the lock, one harvest, the counters
reserved before any packet leaves, the outcome recorded (a delivered target
is next due an Interval later).

A name that matches no target is a configuration error (exit 2) and
nothing is sent. --dry-run prints what would be sent and does nothing.
` + exitCodes,
		Example: `  entropy-source send --now vps1
  entropy-source send --now vps1.example.net:4141 vps2 -k signer.key -t targets.json
  entropy-source send --now                 # every target, due or not
  entropy-source send --now --dry-run vps1  # the counter vps1 would get`,
		ValidArgsFunction: completeTargets,
		RunE: func(cmd *cobra.Command, args []string) error {
			r.cfg.Only = args
			return r.run(cmd)
		},
	}
	r.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&r.cfg.Force, "now", false, "send whatever the targets' next due time")
	return cmd
}

// printPlan prints what a run would send (--dry-run).
func printPlan(w io.Writer, rep *source.Report, now time.Time) {
	if len(rep.Results) == 0 {
		if rep.Targets == 0 {
			fmt.Fprintln(w, "dry run: no targets")
			return
		}
		fmt.Fprintf(w, "dry run: nothing to send of %d targets; next due %s\n", rep.Targets, nextDue(rep.NextDue.Unix(), now))
		return
	}
	for _, res := range rep.Results {
		t := res.Target
		label := reportLabel(&t)
		if res.Counter == 0 {
			fmt.Fprintf(w, "dry run: %s: would fail: its counter is at the maximum\n", label)
			continue
		}
		fmt.Fprintf(w, "dry run: %s: would send counter %d, protocol %d\n", label, res.Counter, t.Proto())
	}
}
