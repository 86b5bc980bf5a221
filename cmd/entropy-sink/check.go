package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/entropyshare/entropyshare/sink"
	"github.com/spf13/cobra"
)

func newCheckCommand(configPath, statePath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "check -f sink.json [--state PATH]",
		Short: "Check the configuration, keys and state file without listening",
		Long: `check loads the configuration and the state file as the sink would at
start, listens on nothing, opens no pool and writes nothing, so it may run
beside a running sink (before a restart or a systemctl reload, say).

It prints the sink's public key fingerprint, "SHA256:" and the hex SHA-256
of its 32 bytes (what sha256sum prints for the raw sink.pub a source's
targets entry was made from; entropy-source check prints it per target),
the addresses, pool, credit and drift, and each signer's fingerprint, the
SHA-256 of its public key's PKIX DER (what sha256sum prints for the raw
signer.pub on the board; entropy-source check prints it too), and the
file descriptors the sink may hold at once beside the limit this shell
has (a sink whose connection slots need more than its limit refuses to
start).

Warnings go to standard error: an unknown field that looks like a
misspelled known one ("Metric"), which is ignored and leaves the known one
at its default; a Drift of 0, which demands exact clocks.

Exit status:
  0  the configuration, keys and state file are usable (warnings may have
     been printed)
  2  usage or configuration error: bad flag, bad or too-open config file,
     bad key, unreadable or damaged state file, bad address`,
		Example: `  entropy-sink check -f sink.json
  entropy-sink check -f /etc/entropyshare/sink.json --state /var/lib/entropyshare/sink.state
  sha256sum sink.pub signer.pub            # the same fingerprints, from the key files`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(*configPath, *statePath)
			if err != nil {
				return err
			}
			sum, state, err := sink.Check(cfg)
			if err != nil {
				return stateError(err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintf(w, "configuration\t%s\tok\n", *configPath)
			fmt.Fprintf(w, "sink key\t%s\t(sha256sum sink.pub)\n", sum.Public)
			fmt.Fprintf(w, "address\t%s\n", sum.Address)
			metrics := sum.Metrics
			if metrics == "" {
				metrics = "off"
			}
			fmt.Fprintf(w, "metrics\t%s\n", metrics)
			fmt.Fprintf(w, "pool\t%s\t%d bits credited per chunk\n", sum.Pool, sum.Credit)
			fmt.Fprintf(w, "drift\t%d s\n", sum.Drift)
			for _, s := range sum.Signers {
				if s.Legacy {
					fmt.Fprintf(w, "signer %s\t%s\tlegacy: protocol 1 accepted\n", s.Name, s.Fingerprint)
					continue
				}
				fmt.Fprintf(w, "signer %s\t%s\n", s.Name, s.Fingerprint)
			}
			lim, err := descriptorLimit()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "descriptors\t%d at most\tRLIMIT_NOFILE here: %d\n", sum.Descriptors, lim)
			switch {
			case !state.Exists:
				fmt.Fprintf(w, "state file\t%s\tnot made yet: the first start makes it\n", sum.State)
			case state.Spoiled != "":
				fmt.Fprintf(w, "state file\t%s\tok; one slot passed over (a write cut short?): %s\n", sum.State, state.Spoiled)
			default:
				fmt.Fprintf(w, "state file\t%s\tok\n", sum.State)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			// After the table, so that the warnings come last on a terminal.
			errw := cmd.ErrOrStderr()
			for _, m := range cfg.Misspellings() {
				fmt.Fprintf(errw, "entropy-sink: warning: %s: %s\n", *configPath, m)
			}
			if sum.Drift == 0 {
				fmt.Fprintf(errw, "entropy-sink: warning: %s: %s\n", *configPath, sink.DriftZeroWarning)
			}
			// Only a warning: the service may run with another limit
			// (LimitNOFILE=) than this shell.
			if err := descriptorsError(sum, lim); err != nil {
				fmt.Fprintf(errw, "entropy-sink: warning: %v; a sink started here would refuse to start\n", err)
			}
			return nil
		},
	}
}
