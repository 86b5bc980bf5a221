package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/privfile"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/packet"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes beyond internal/cli's 0, 1 and 2.
const exitInsufficient = 3

const exitCodes = `
Exit status:
  0  every due target was delivered, or none was due
  1  some delivery failed (see the lines printed), the file could not be
     written, or another run held the lock longer than --lock-wait
  2  usage or configuration error: bad flag, missing or broken targets
     file, missing, broken or group/other-readable signer key,
     group/other-readable seed file, --tls-cert, --tls-key or --tls-ca
     unreadable, too open or not PEM; for a key in a TPM, no TPM, no key at
     the handle, or another key there than the reference file names
     (nothing is sent, no counter moves)
  3  not enough healthy entropy: nothing was sent and nothing changed
  130, 143
     interrupted by SIGINT (Ctrl-C) or SIGTERM: the run stopped where it
     was and recorded no outcome; the due targets stay due, and a counter
     reserved for them is skipped. With --daemon the first signal lets the
     run in progress finish (then exit 0) and a second interrupts it`

// env is what tests replace.
type env struct {
	// signals delivers SIGINT and SIGTERM until its stop function is called.
	signals func() (<-chan os.Signal, func())
	// now is the clock of what the commands print (status's "in 5h12m").
	now func() time.Time
}

func defaultEnv() env { return env{signals: notifySignals, now: time.Now} }

func newCommand(e env) *cobra.Command {
	var (
		seedPath string
		hcfg     harvest.Config
	)
	r := &runner{e: e, hcfg: &hcfg, seedPath: &seedPath}
	cmd := &cobra.Command{
		Use:   "entropy-source [-k signer.key] [-t targets.json] [-s seed] [--verbose] [--daemon] [--dry-run]",
		Short: "Push signed entropy packets to every sink that is due",
		Long: `entropy-source makes one run: it locks the targets file (a lock file beside
it, so overlapping cron runs never both send), harvests and health-tests
local entropy once if any target is due, and sends every due target one
1024-byte packet, signed with the RSA key and sealed to the sink's
Curve25519 key, at most --concurrency at a time.

Before any packet leaves, the counters it uses are already in the targets
file: a run killed at any point can skip counters, never reuse one.
Afterwards a delivered target is due again after its Interval (default 6h,
plus a little random spread); a failed one is retried after a backoff that
starts at 1m and doubles up to its Interval, with the reason in LastError.
A sink that reports a higher stored counter (status 0x02) is followed, at
most 2^32 ahead, and sent once more.

It prints nothing when every due target was delivered, unless --verbose;
otherwise one line per due target. SIGINT or SIGTERM interrupts a run: it
records nothing, prints "interrupted" and exits 130 or 143. With --daemon
it stays running and scans the targets file every minute, for systems
without cron; SIGTERM or SIGINT stops it after the run in progress, which
its timeouts bound, and a second signal interrupts that run.

--dry-run prints what a run would send (the targets and their counters)
and does nothing else: no lock, no harvest, nothing signed or written.

A target whose Address is https://HOST[:PORT] is a sink's HTTPS listener:
its packet is POSTed to /v1/packet over TLS 1.3, with the client
certificate --tls-cert (its key --tls-key, mode 0600), and the sink's
certificate must chain to --tls-ca or to the entry's own CA file. Given
but unreadable, these files stop the run at once (exit 2). Not given, an
https target that is due fails on its own (exit 1), before a counter is
reserved for it, and the other targets are sent as usual. TLS sessions
are kept beside the targets file (TARGETS.tls-sessions, mode 0600), so
that the next delivery resumes with a shorter handshake.

The signer key must not be readable by group or others. A key kept in a
TPM 2.0 is given as its reference file (-k signer.tpm, from rsagen --tpm):
the run checks that the TPM holds that key before it does anything else,
and signs every packet in the TPM. Without --tpm-device the TPM is the one
the file names, for the signer and for the tpm entropy source alike.
` + exitCodes,
		Example: `  entropy-source -k signer.key -t targets.json -s seed
  entropy-source -k /etc/entropyshare/signer.key -t /var/lib/entropyshare/targets.json --verbose
  entropy-source --daemon -k signer.key -t targets.json
  entropy-source -k /etc/entropyshare/signer.tpm -t targets.json   # the key in a TPM 2.0
  entropy-source --dry-run -k signer.key -t targets.json   # what would be sent now
  entropy-source check -k signer.key -t targets.json -s seed   # validate everything, send nothing
  entropy-source status -t targets.json                    # every target: counter, next, last error
  entropy-source send --now vps1                           # send to vps1 at once
  entropy-source harvest --bytes 32 | xxd                  # generator output
  entropy-source sources                                   # the entropy sources and their health
  entropy-source -k signer.key -t targets.json --tls-cert board1.crt --tls-key board1.key --tls-ca ca.crt
  entropy-target -a vps1.example.net:4141 -k sink.pub --append targets.json   # add a sink`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return r.run(cmd) },
	}
	r.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&r.daemon, "daemon", false, "keep running and scan the targets file every minute")
	cmd.PersistentFlags().StringVarP(&seedPath, "seed", "s", "", "seed file the generator reads and rewrites")
	addHarvestFlags(cmd.PersistentFlags(), &hcfg)
	cmd.RegisterFlagCompletionFunc("sources", completeSources)
	cmd.AddCommand(
		statusCommand(e),
		sendCommand(e, &hcfg, &seedPath),
		checkCommand(e, &hcfg, &seedPath),
		harvestCommand(e, &hcfg, &seedPath),
		sourcesCommand(e, &hcfg, &seedPath),
	)
	return cmd
}

// runner holds the flags of a run (the root command's and send's) and
// makes it.
type runner struct {
	e                    env
	hcfg                 *harvest.Config
	seedPath             *string
	keyPath, targetsPath string
	verbose, dryRun      bool
	daemon               bool
	metricsPath          string
	tlsCert, tlsKey      string
	tlsCA                string
	cfg                  source.Config
}

func (r *runner) addFlags(f *pflag.FlagSet) {
	f.StringVarP(&r.keyPath, "key", "k", "signer.key", "RSA signer private key (mode 0600), or a TPM key reference (FILE.tpm)")
	f.StringVarP(&r.targetsPath, "targets", "t", "targets.json", "targets file (JSON array; see entropy-target)")
	f.BoolVar(&r.verbose, "verbose", false, "print a line per due target even when all were delivered")
	f.BoolVar(&r.dryRun, "dry-run", false, "print what would be sent (targets, counters) and do nothing")
	f.StringVar(&r.metricsPath, "metrics-file", "", "after each run, write its outcome to `FILE.prom` for node_exporter's textfile collector")
	f.IntVar(&r.cfg.Concurrency, "concurrency", source.DefaultConcurrency, "sinks to talk to at once")
	f.DurationVar(&r.cfg.DialTimeout, "dial-timeout", source.DefaultDialTimeout, "time to connect to a sink, name lookup included")
	f.DurationVar(&r.cfg.IOTimeout, "timeout", source.DefaultIOTimeout, "time to send a packet and read the sink's reply")
	f.DurationVar(&r.cfg.LockWait, "lock-wait", source.DefaultLockWait, "time to wait for another run's lock on the targets file")
	f.StringVar(&r.tlsCert, "tls-cert", "", "client certificate (PEM) for https:// targets")
	f.StringVar(&r.tlsKey, "tls-key", "", "its private key (PEM, mode 0600)")
	f.StringVar(&r.tlsCA, "tls-ca", "", "CA certificates (PEM) that https:// sinks' certificates must chain to")
}

// loadTLS loads --tls-cert, --tls-key and --tls-ca: nil when none is
// given; a file that cannot be used is a configuration error (exit 2).
func (r *runner) loadTLS() (*source.TLS, error) {
	if r.tlsCert == "" && r.tlsKey == "" {
		if r.tlsCA != "" {
			return nil, cli.Usagef("--tls-ca without --tls-cert and --tls-key: https:// targets need a client certificate")
		}
		return nil, nil
	}
	if r.tlsCert == "" || r.tlsKey == "" {
		return nil, cli.Usagef("--tls-cert and --tls-key go together")
	}
	cert, err := tlsca.LoadKeyPair(r.tlsCert, r.tlsKey)
	if err != nil {
		if errors.Is(err, privfile.ErrPermissions) {
			return nil, cli.Usage(err)
		}
		return nil, cli.Hint(cli.Usage(err), "make a client certificate with: entropy-config tls issue --ca CA --client --name NAME")
	}
	t := &source.TLS{Certificate: cert}
	if r.tlsCA != "" {
		if t.Roots, err = tlsca.LoadPool(r.tlsCA); err != nil {
			return nil, cli.Usage(err)
		}
	}
	return t, nil
}

func (r *runner) run(cmd *cobra.Command) error {
	if r.daemon && r.dryRun {
		return cli.Usagef("--dry-run and --daemon: choose one")
	}
	key, err := loadSigner(cmd, r.keyPath)
	if err != nil {
		return exitError(err)
	}
	// Checked now, like the key, rather than when a target is due.
	if *r.seedPath != "" {
		if err := harvest.CheckSeedFile(*r.seedPath); err != nil {
			return exitError(err)
		}
	}
	cfg := r.cfg
	cfg.Targets = r.targetsPath
	cfg.Signer = key
	if cfg.TLS, err = r.loadTLS(); err != nil {
		return err
	}
	var m *metricsFile
	var report func(*harvest.Report)
	if r.metricsPath != "" && !r.dryRun {
		if err := checkMetricsPath(r.metricsPath); err != nil {
			return err
		}
		m = &metricsFile{path: r.metricsPath, targets: r.targetsPath}
		report = m.harvested
	}
	// record writes the metrics file, if asked, after a run that took
	// took and ends with result. Failing to is a warning: the run's exit
	// status is about the sinks.
	record := func(took time.Duration, result error) {
		if m == nil {
			return
		}
		if err := m.write(took, exitCode(result), time.Now()); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "entropy-source: warning: %v\n", err)
		}
	}
	cfg.Harvest = harvester(r.hcfg, *r.seedPath, report)
	if r.dryRun {
		rep, err := source.Plan(cfg)
		if err != nil {
			return exitError(err)
		}
		warnMisspellings(cmd.ErrOrStderr(), cfg.Targets, rep.Misspellings, nil)
		printPlan(cmd.OutOrStdout(), rep, r.e.now())
		return nil
	}
	w := r.e.watch(r.daemon, cmd.ErrOrStderr())
	defer w.release()
	if r.daemon {
		warned := map[string]bool{} // each warning once, not every minute
		var cut error
		source.Daemon(w.ctx, w.stopping, cfg, source.DaemonPeriod, func(rep *source.Report, err error, took time.Duration) {
			if errors.Is(err, source.ErrInterrupted) {
				cut = err // the daemon's own exit says it
				return
			}
			if rep != nil {
				warnMisspellings(cmd.ErrOrStderr(), cfg.Targets, rep.Misspellings, warned)
				warnAll(cmd.ErrOrStderr(), rep.Warnings)
			}
			result := outcome(cmd, rep, err, r.verbose)
			record(took, result)
			if result != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "entropy-source: %v\n", result)
			}
		})
		return w.interrupted(cut)
	}
	start := time.Now()
	rep, err := source.Run(w.ctx, cfg)
	took := time.Since(start)
	if errors.Is(err, source.ErrInterrupted) {
		return w.interrupted(err)
	}
	if rep != nil {
		warnMisspellings(cmd.ErrOrStderr(), cfg.Targets, rep.Misspellings, nil)
		warnAll(cmd.ErrOrStderr(), rep.Warnings)
	}
	result := outcome(cmd, rep, err, r.verbose)
	record(took, result)
	return result
}

// outcome prints a run's report and turns it into the exit code.
func outcome(cmd *cobra.Command, rep *source.Report, err error, verbose bool) error {
	out := cmd.OutOrStdout()
	if rep != nil {
		for _, res := range rep.Results {
			if res.Delivered && res.NoReply && res.Target.Proto() == packet.Protocol2 {
				fmt.Fprintf(cmd.ErrOrStderr(), "entropy-source: warning: %s: no status reply to a protocol 2 packet; an original sink drops those silently (mark it \"Protocol\": 1)\n", res.Target.Label())
			}
		}
		if verbose || rep.Failed() > 0 {
			printReport(out, rep)
		}
	}
	if err == nil && rep.Failed() > 0 {
		return cli.Exit(cli.ExitFail, fmt.Errorf("%d of %d due targets failed", rep.Failed(), len(rep.Results)))
	}
	return exitError(err)
}

// warnMisspellings prints a warning for each misspelled field of the
// targets file at path, skipping those in seen (nil: none) and adding
// them to it.
func warnMisspellings(w io.Writer, path string, ms []source.Misspelling, seen map[string]bool) {
	for _, m := range ms {
		line := fmt.Sprintf("entropy-source: warning: %s: %s", path, m)
		if seen != nil {
			if seen[line] {
				continue
			}
			seen[line] = true
		}
		fmt.Fprintln(w, line)
	}
}

// warnAll prints a run's warnings.
func warnAll(w io.Writer, warnings []string) {
	for _, m := range warnings {
		fmt.Fprintf(w, "entropy-source: warning: %s\n", m)
	}
}

// exitError gives err the exit status documented in exitCodes, and a hint
// where the fix is known. Every command's errors pass through it.
func exitError(err error) error {
	var keyErr *keys.FileError
	var exitErr *cli.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exitErr):
		return err // its code is decided
	case errors.Is(err, source.ErrInsufficient), errors.Is(err, harvest.ErrInsufficient):
		return cli.Exit(exitInsufficient, err)
	case errors.Is(err, source.ErrConfig):
		if errors.Is(err, fs.ErrNotExist) {
			return cli.Hint(cli.Usage(err), "add a sink with: entropy-target -a HOST:PORT -k sink.pub --append TARGETS")
		}
		return cli.Usage(err)
	case errors.Is(err, privfile.ErrPermissions), errors.Is(err, harvest.ErrConfig):
		// A private file's error says which chmod fixes it.
		return cli.Usage(err)
	case errors.As(err, &keyErr):
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return cli.Hint(cli.Usage(err), "make a signer key pair with: rsagen -o signer (or give its path with -k)")
		case errors.Is(err, fs.ErrPermission):
			return cli.Hint(cli.Usage(err), "run as the user that owns the key")
		}
		return cli.Usage(err)
	case errors.Is(err, source.ErrLocked):
		return cli.Hint(cli.Exit(cli.ExitFail, err), "another entropy-source is running on this targets file; raise --lock-wait if runs overlap often")
	}
	return cli.Exit(cli.ExitFail, err)
}

func printReport(w io.Writer, rep *source.Report) {
	if len(rep.Results) == 0 {
		if rep.Targets == 0 {
			fmt.Fprintln(w, "no targets")
			return
		}
		fmt.Fprintf(w, "nothing due of %d targets; next at %s (in %s)\n", rep.Targets,
			rep.NextDue.Format(time.RFC3339), time.Until(rep.NextDue).Round(time.Second))
		return
	}
	for _, res := range rep.Results {
		t := res.Target
		label := reportLabel(&t)
		next := time.Until(time.Unix(t.Next, 0)).Round(time.Second)
		if res.Delivered {
			how := "delivered"
			if res.Retried {
				how = "delivered after following the sink's counter"
			}
			if res.NoReply {
				how += ", no reply (original sink)"
			}
			if res.Resumed {
				how += ", TLS resumed"
			}
			fmt.Fprintf(w, "%s: %s, counter %d, protocol %d, %s; next in %s\n", label, how, res.Counter, t.Proto(), res.Elapsed.Round(time.Millisecond), next)
		} else {
			fmt.Fprintf(w, "%s: FAILED, counter %d: %s; retry in %s\n", label, res.Counter, t.LastError, next)
		}
	}
}

func harvestCommand(e env, hcfg *harvest.Config, seedPath *string) *cobra.Command {
	var (
		n     int
		asHex bool
	)
	cmd := &cobra.Command{
		Use:   "harvest [--bytes N] [--hex]",
		Short: "Harvest once and print generator output",
		Long: `harvest gathers and health-tests entropy as a run does, seeds the
generator, and writes N bytes of its output to stdout (raw, or hex with
--hex).
--hex).

Exit status:
  0  the bytes were written
  1  failure: the output could not be written, a seed file error
  2  usage or configuration error: bad flag, bad source list, a seed file
     group or others may read
  3  not enough healthy entropy: nothing was written
  130, 143
     interrupted by SIGINT (Ctrl-C) or SIGTERM`,
		Example: `  entropy-source harvest --bytes 32 | xxd
  entropy-source harvest --bytes 1048576 | rngtest
  entropy-source harvest --hex`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 0 {
				return cli.Usagef("--bytes %d: want a byte count of 0 or more", n)
			}
			sw := e.watch(false, cmd.ErrOrStderr())
			gen, _, err := harvest.Harvest(sw.ctx, *hcfg, *seedPath)
			err = sw.interrupted(exitError(err))
			// From here a signal kills the process as usual: the copy
			// below does not watch a context.
			sw.release()
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if asHex {
				enc := hex.NewEncoder(w)
				if _, err := io.CopyN(enc, gen, int64(n)); err != nil {
					return err
				}
				_, err := fmt.Fprintln(w)
				return err
			}
			_, err = io.CopyN(w, gen, int64(n))
			return err
		},
	}
	cmd.Flags().IntVar(&n, "bytes", 32, "bytes to print")
	cmd.Flags().BoolVar(&asHex, "hex", false, "print hex instead of raw bytes")
	return cmd
}

func sourcesCommand(e env, hcfg *harvest.Config, seedPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "sources",
		Short: "Harvest once and print the table of entropy sources and their health",
		Long: `sources runs the harvest a run would and prints, for every entropy source,
what it gave and whether its health tests passed. Like a run, it reads and
rewrites the seed file given with -s.
rewrites the seed file given with -s.

Exit status:
  0  the table was printed and enough healthy entropy was credited
  1  failure: the seed file could not be read or written
  2  usage or configuration error: bad flag, bad source list, a seed file
     group or others may read
  3  not enough healthy entropy: the table was printed, but less was
     credited than --min-bits asks
  130, 143
     interrupted by SIGINT (Ctrl-C) or SIGTERM`,
		Example: `  entropy-source sources
  entropy-source sources -s /var/lib/entropyshare/seed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := e.watch(false, cmd.ErrOrStderr())
			defer w.release()
			// The harvest a run would make, seed file included: the
			// generator is dropped, the report printed.
			_, rep, err := harvest.Harvest(w.ctx, *hcfg, *seedPath)
			if rep != nil {
				if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil {
					return werr
				}
			}
			return w.interrupted(exitError(err))
		},
	}
}

// reportLabel names a target in a run's or a dry run's report: its Name
// and Address, or its Address alone.
func reportLabel(t *source.Target) string {
	if t.Name != "" {
		return t.Name + " (" + t.Address + ")"
	}
	return t.Address
}
