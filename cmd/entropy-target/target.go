package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
)

func newCommand() *cobra.Command {
	var (
		address, keyPath, name, appendPath string
		caPath                             string
		counter, next                      int64
		protocol                           int
		interval, lockWait                 time.Duration
		list                               bool
		remove, targetsPath                string
	)
	cmd := &cobra.Command{
		Use: `entropy-target -a HOST:PORT|https://HOST[:PORT] [-k sink.pub] [-c COUNTER] [-t NEXT] [--ca FILE] [--append targets.json]
  entropy-target --list [--targets targets.json]
  entropy-target --remove NAME|ADDRESS [--targets targets.json]`,
		Short: "Write, list or remove the targets-file entries of entropyshare sinks",
		Long: `entropy-target prints the targets-file entry for the sink at HOST:PORT whose
Curve25519 public key is in -k (raw 32 bytes, PEM or base64), as the
original entropy-target did: tab-indented JSON with Address, Public,
Counter and, when not zero, Next.

An address https://HOST[:PORT] (port 443 if none; no path) is a sink's
HTTPS listener: entropy-source POSTs the packet there with its client
certificate (entropy-source --tls-cert). --ca names a CA file of the
entry's own that the sink's certificate must chain to, in place of
entropy-source --tls-ca (relative to the targets file's folder).

With --append it adds the entry to a targets file instead, atomically and
under the same lock entropy-source takes, keeping every other entry and
the fields this version does not know. A missing file is created (mode
0644: it holds only addresses and public keys). An entry with the same
Address and Public already there is refused: two entries for one sink
would share its counter.

--list prints the entries of the targets file (--targets): name, address,
protocol, interval, last counter and the sink key's fingerprint (what
sha256sum prints for the sink's raw sink.pub). --remove deletes the entry
whose Name or Address is given, atomically and under the same lock,
keeping the others. Both wait for a run in progress (up to --lock-wait),
so that they see the file as it leaves it; entropy-source status reads it
without waiting.

Exit status:
  0  success
  1  failure: file not writable, duplicate entry, lock held past --lock-wait
  2  usage or configuration error: bad flag, missing or unreadable key,
     missing or broken targets file, --remove of a name no entry has (or
     that several have)`,
		Example: `  entropy-target -a vps1.example.net:4141 -k sink.pub
  entropy-target -a vps1.example.net:4141 -k sink.pub --name vps1 --append targets.json
  entropy-target -a https://vps2.example.net:8443 -k vps2.pub --name vps2 --append targets.json
  entropy-target -a https://vps3.example.net:8443 -k vps3.pub --ca vps3-ca.crt --append targets.json
  entropy-target -a old.example.net:4141 -k old.pub --protocol 1 --interval 12h -f targets.json
  entropy-target --list --targets /var/lib/entropyshare/targets.json
  entropy-target --remove vps1 --targets /var/lib/entropyshare/targets.json
  entropy-target --remove old.example.net:4141`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if list || cmd.Flags().Changed("remove") {
				modes := 0
				for _, m := range []string{"list", "remove", "append", "address"} {
					if cmd.Flags().Changed(m) {
						modes++
					}
				}
				if modes > 1 {
					return cli.Hint(cli.Usagef("--list, --remove and adding an entry (-a, --append) are separate: give one"), "see 'entropy-target --help'")
				}
				return edit(cmd, list, remove, targetsPath, lockWait)
			}
			if address == "" {
				return cli.Hint(cli.Usagef("no sink address (-a HOST:PORT)"), "see 'entropy-target --help'")
			}
			pub, err := keys.LoadCurve25519Public(keyPath)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return cli.Hint(cli.Usage(err), "the sink's public key comes from curve25519gen on the sink (sink.pub); give it with -k")
				}
				return cli.Usage(err)
			}
			t := &source.Target{Address: address, Public: source.PublicKey(*pub), Counter: counter, Next: next, Name: name, CA: caPath}
			if cmd.Flags().Changed("protocol") {
				if protocol != 1 && protocol != 2 {
					return cli.Usagef("--protocol %d: want 1 (an original sink) or 2", protocol)
				}
				t.Protocol = protocol
			}
			if cmd.Flags().Changed("interval") {
				if interval < time.Second || interval%time.Second != 0 {
					return cli.Usagef("--interval %s: want whole seconds, at least 1s", interval)
				}
				t.Interval = int64(interval / time.Second)
			}
			if err := t.Validate(); err != nil {
				return cli.Usage(fmt.Errorf("entropy-target: %w", err))
			}
			if appendPath == "" {
				data, err := t.MarshalEntry()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			err = source.Append(context.Background(), appendPath, t, lockWait)
			switch {
			case err == nil:
				fmt.Fprintf(cmd.ErrOrStderr(), "entropy-target: added %s to %s\n", t.Label(), appendPath)
				return nil
			case errors.Is(err, source.ErrDuplicate):
				return err
			case errors.Is(err, source.ErrConfig):
				return cli.Usage(err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&address, "address", "a", "", "the sink's HOST:PORT, or https://HOST[:PORT] for its HTTPS listener")
	f.StringVar(&caPath, "ca", "", "for an https:// address: the CA file the sink's certificate must chain to")
	f.StringVarP(&keyPath, "key", "k", "sink.pub", "the sink's Curve25519 public key file")
	f.Int64VarP(&counter, "counter", "c", 0, "last counter used for this sink (0 for a new sink)")
	f.Int64VarP(&next, "next", "t", 0, "Unix time the first packet is due (0: the next run)")
	f.StringVar(&name, "name", "", "a name for logs and summaries")
	f.IntVar(&protocol, "protocol", 2, "1 for an original entropyshare sink, 2 otherwise")
	f.DurationVar(&interval, "interval", source.DefaultInterval, "time between packets to this sink")
	f.StringVarP(&appendPath, "append", "f", "", "append the entry to this targets file instead of printing it")
	f.DurationVar(&lockWait, "lock-wait", source.DefaultLockWait, "time to wait for a running entropy-source's lock")
	f.BoolVar(&list, "list", false, "print the entries of the targets file (--targets)")
	f.StringVar(&remove, "remove", "", "remove the entry with this `NAME|ADDRESS` from the targets file (--targets)")
	f.StringVar(&targetsPath, "targets", "targets.json", "targets `FILE` for --list and --remove")
	cmd.RegisterFlagCompletionFunc("remove", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeEntries(targetsPath, toComplete), cobra.ShellCompDirectiveNoFileComp
	})

	return cmd
}
