package main

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/sink"
	"github.com/spf13/cobra"
)

func newCommand() *cobra.Command {
	var (
		address, keyPath, signerPath string
		drift                        int64
		out, newKey, pool            string
		force, legacy                bool
		credit                       int
	)
	cmd := &cobra.Command{
		Use:   "entropy-config -a ADDR -k SINK.key -s SIGNER.pub [-d DRIFT] [-o sink.json]",
		Short: "Write a sink configuration",
		Long: `entropy-config makes the configuration entropy-sink runs from: its listen
address, its Curve25519 private key, the signer's RSA public key (any format:
raw PKIX DER, PEM or base64), the allowed clock drift in seconds, and the
counter, starting at 0 (a floor: the sink keeps its counters in its own state
file and never writes the configuration).

The configuration holds the sink's private key. Without -o it is printed to
standard output, as the original entropy-config did; with -o it is written to
FILE with mode 0600, never over an existing file unless --force is given.
--new-key BASE makes the sink's key pair in the same step (BASE.key, mode
0600, and BASE.pub, which the source's targets file needs).

Exit status: 0 on success; 1 when an output file exists or cannot be
written; 2 on a usage or configuration error (a key file missing,
unreadable, too open, not a key or the wrong kind; an address without a
port, or with a port outside 1 to 65535).`,
		Example: `  entropy-config -a :4141 -k sink.key -s signer.pub -d 120 -o sink.json
  entropy-config -a :4141 --new-key /root/sink -s signer.pub -o /etc/entropyshare/sink.json
  entropy-config -a :4141 -k sink.key -s signer.pub --legacy -o sink.json   # accept original sources
  entropy-config -k sink.key -s signer.pub --pool file:/tmp/pool.bin        # print, feeding a file`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if newKey != "" && cmd.Flags().Changed("key") {
				return cli.Usagef("-k and --new-key both name the sink's key: give one")
			}
			// Before --new-key writes anything: a sink given this address
			// would fail at every start.
			if err := sink.CheckAddress("-a", address); err != nil {
				return cli.Hint(cli.Usage(err), "give -a HOST:PORT or -a :PORT (every interface), e.g. -a :4141")
			}
			if out != "" && !force {
				if _, err := os.Lstat(out); err == nil {
					return cli.Hint(fmt.Errorf("%s exists", out), "use --force to replace it")
				}
			}
			signer, err := keys.LoadRSAPublic(signerPath)
			if err != nil {
				return cli.Usage(fmt.Errorf("signer key (-s): %w", err))
			}
			signerDER, err := x509.MarshalPKIXPublicKey(signer)
			if err != nil {
				return err
			}
			var private *[keys.Curve25519Size]byte
			if newKey != "" {
				priv, pub, err := keys.GenerateCurve25519(rand.Reader)
				if err != nil {
					return err
				}
				if err := keys.WriteFile(newKey+".key", keys.MarshalCurve25519(priv, true, keys.Raw), true, force); err != nil {
					return err
				}
				if err := keys.WriteFile(newKey+".pub", keys.MarshalCurve25519(pub, false, keys.Raw), false, force); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "entropy-config: wrote the sink's key pair to %s.key and %s.pub\n", newKey, newKey)
				private = priv
			} else {
				private, err = keys.LoadCurve25519Private(keyPath)
				if err != nil {
					return cli.Usage(fmt.Errorf("sink key (-k): %w", err))
				}
			}
			defer clear(private[:])
			c := &sink.Config{
				Address: address,
				Signer:  signerDER,
				Private: private[:],
				Drift:   drift,
				Legacy:  legacy,
				Pool:    pool,
			}
			if cmd.Flags().Changed("credit") {
				c.Credit = &credit
			}
			if err := c.Validate(); err != nil {
				return cli.Usage(err)
			}
			data, err := c.Marshal()
			if err != nil {
				return err
			}
			defer clear(data)
			if out == "" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := keys.WriteFile(out, data, true, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "entropy-config: wrote the sink configuration to %s (mode 0600)\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&address, "address", "a", ":4141", "address the sink listens on")
	f.StringVarP(&keyPath, "key", "k", "sink.key", "the sink's Curve25519 private key file")
	f.StringVarP(&signerPath, "signer", "s", "signer.pub", "the signer's RSA public key file")
	f.Int64VarP(&drift, "drift", "d", 120, "allowed clock difference, seconds")
	f.StringVarP(&out, "out", "o", "", "write the configuration to FILE (mode 0600) instead of standard output")
	f.BoolVar(&force, "force", false, "replace existing output and key files")
	f.StringVar(&newKey, "new-key", "", "make the sink's key pair as BASE.key and BASE.pub and use it")
	f.BoolVar(&legacy, "legacy", false, "accept protocol 1 (original entropyshare) packets from the signer")
	f.StringVar(&pool, "pool", "", `where chunks go: "kernel" (default) or "file:/path"`)
	cmd.RegisterFlagCompletionFunc("pool", cli.CompletePool)
	f.IntVar(&credit, "credit", sink.DefaultCredit, "bits credited to the kernel per 1024-byte chunk (0: mix only)")
	cmd.AddCommand(newTLSCommand())
	return cmd
}
