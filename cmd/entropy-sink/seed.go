package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/sink"
	"github.com/spf13/cobra"
)

func newSeedCommand(configPath, statePath *string) *cobra.Command {
	var (
		seedPath string
		credit   int
		pool     string
	)
	cmd := &cobra.Command{
		Use:   "seed [--seed PATH | -f sink.json] [--credit BITS]",
		Short: "Feed the kernel the boot seed the sink kept, once, early at boot",
		Long: `seed feeds the kernel, once, the boot seed the sink keeps from the
chunks it accepts: the file --seed names or, without --seed, the
configuration's (-f): its BootSeed, by default boot-seed beside the state
file (--state overrides the configuration's State, as for the sink).
entropy-sink-seed.service runs it early at boot, before the network, with
--seed.

It reads the seed and first replaces it, durably, with a seed derived from
it by a one-way step, so that a crash at any point never feeds the same
bytes twice. Then it feeds the old seed to the kernel with RNDADDENTROPY
and has the kernel reseed its CRNG (RNDRESEEDCRNG).

It credits BITS only when the file carries this machine's identity, is
owned by root or the sink's user (the owner of the seed's folder), and
neither it nor its folder is open to group or others. Otherwise it mixes
the seed in without credit and says why: a cloned disk, a foreign file, a
loose mode, a file that is no boot seed. A seed whose secrecy is in doubt
is replaced without its machine identity, so later boots do not credit it
either, until the sink mixes in a chunk.

A missing seed is no error: on a first boot the sink has not written one.
Crediting needs CAP_SYS_ADMIN; without it the seed is mixed in, not
credited. See docs/BOOTSEED.md.

Exit status:
  0  the seed was fed, credited or not, or there is none yet
  1  failure: the seed could not be read, replaced or fed
  2  usage or configuration error (bad flag; without --seed, a configuration
     that cannot be read or is refused)`,
		Example: `  entropy-sink seed --seed /var/lib/entropyshare/boot-seed
  entropy-sink seed -f /etc/entropyshare/sink.json --state /var/lib/entropyshare/sink.state
  entropy-sink seed --seed /var/lib/entropyshare/boot-seed --credit 0   # mix in, never credit
  entropy-sink seed --seed boot-seed --pool file:fed.bin                  # feed a file instead`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := seedPath
			if !cmd.Flags().Changed("seed") {
				cfg, err := loadConfig(*configPath, *statePath)
				if err != nil {
					return cli.Hint(err, "or name the seed file with --seed")
				}
				path = cfg.BootSeedPath()
			}
			r, err := sink.FeedBootSeed(sink.BootSeedOptions{
				Path:   path,
				Credit: credit,
				Pool:   pool,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)),
			})
			if ce := (*sink.ConfigError)(nil); errors.As(err, &ce) {
				hint := "--pool takes kernel or file:/path"
				if ce.Field == "Credit" {
					hint = fmt.Sprintf("--credit takes 0 to %d bits: the seed is %d bytes", sink.BootSeedSize*8, sink.BootSeedSize)
				}
				return cli.Hint(cli.Usage(err), hint)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), describeSeed(r, pool, time.Now()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&seedPath, "seed", "", "boot seed file (default: the -f configuration's BootSeed, boot-seed beside its state file)")
	f.IntVar(&credit, "credit", sink.DefaultBootSeedCredit, fmt.Sprintf("bits to credit when the seed may be credited, 0 to %d", sink.BootSeedSize*8))
	f.StringVar(&pool, "pool", "kernel", "where to feed: kernel, or file:/path (for tests)")
	cmd.RegisterFlagCompletionFunc("pool", cli.CompletePool)
	return cmd
}

// bootSeedStatus is status's line about the boot seed at path: the age of
// the last chunk mixed in and whether the seed command would credit it.
func bootSeedStatus(path string, info *sink.BootSeedInfo, err error, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "boot seed: %s (", path)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "cannot judge it: %v)", err)
		return b.String()
	case info.Verdict == sink.SeedMissing:
		b.WriteString("none yet: the sink writes one when it accepts a chunk)")
		return b.String()
	case info.Mixed.IsZero():
		b.WriteString("never held a received chunk")
	default:
		fmt.Fprintf(&b, "last chunk mixed in %s ago, at %s", now.Sub(info.Mixed).Round(time.Second), info.Mixed.UTC().Format(time.RFC3339))
	}
	if info.Verdict == sink.SeedCredited {
		b.WriteString("; entropy-sink seed would credit it)")
		return b.String()
	}
	fmt.Fprintf(&b, "; entropy-sink seed would not credit it: %s", info.Verdict)
	if info.Detail != "" {
		fmt.Fprintf(&b, " (%s)", info.Detail)
	}
	b.WriteString(")")
	return b.String()
}

// describeSeed is the one line that says what seed did.
func describeSeed(r *sink.BootSeedFed, pool string, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", r.Path)
	if r.Verdict == sink.SeedMissing {
		b.WriteString("no boot seed yet (a first boot?); the sink writes one when it accepts a chunk")
		return b.String()
	}
	fmt.Fprintf(&b, "fed %d bytes", r.Fed)
	switch {
	case r.Verdict != sink.SeedCredited:
		fmt.Fprintf(&b, ", not credited: %s", r.Verdict)
		if r.Detail != "" {
			fmt.Fprintf(&b, " (%s)", r.Detail)
		}
	case r.Credit == 0:
		b.WriteString(", not credited: --credit 0")
	case r.Credited > 0:
		fmt.Fprintf(&b, ", credited %d bits", r.Credited)
	case strings.HasPrefix(pool, "file:"):
		fmt.Fprintf(&b, " to %s (a file pool credits nothing; the kernel would be asked for %d bits)", pool, r.Credit)
	default:
		b.WriteString(", not credited: the kernel refused RNDADDENTROPY (no CAP_SYS_ADMIN?)")
	}
	if r.Withheld {
		b.WriteString("; its replacement stays uncredited until the sink mixes in a chunk")
	}
	if r.Mixed.IsZero() {
		b.WriteString("; it never held a received chunk")
	} else {
		fmt.Fprintf(&b, "; last chunk mixed in %s ago", now.Sub(r.Mixed).Round(time.Second))
	}
	return b.String()
}
