package main

import (
	"crypto/rand"
	"fmt"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/spf13/cobra"
)

func newCommand() *cobra.Command {
	var (
		base   string
		armour bool
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "curve25519gen [-o BASE] [-a]",
		Short: "Make the Curve25519 key pair a sink opens packets with",
		Long: `curve25519gen writes a new Curve25519 key pair: BASE.key (32 raw bytes,
mode 0600) and BASE.pub (32 raw bytes, mode 0644), or PEM with -a. The sink's
configuration carries the private key; the source's targets file carries the
public key.

Existing files are never overwritten unless --force is given.

Exit status: 0 on success, 1 on failure, 2 on a usage error.`,
		Example: `  curve25519gen -o sink      # sink.key and sink.pub
  curve25519gen -o vps1 -a   # PEM armoured
  entropy-config -k sink.key -s signer.pub -o sink.json   # then configure the sink`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if base == "" {
				return cli.Usagef("no output base name (-o)")
			}
			enc := keys.Raw
			if armour {
				enc = keys.PEM
			}
			priv, pub, err := keys.GenerateCurve25519(rand.Reader)
			if err != nil {
				return err
			}
			defer clear(priv[:])
			privBytes := keys.MarshalCurve25519(priv, true, enc)
			defer clear(privBytes)
			if err := keys.WriteFile(base+".key", privBytes, true, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "curve25519gen: wrote private key to %s.key\n", base)
			if err := keys.WriteFile(base+".pub", keys.MarshalCurve25519(pub, false, enc), false, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "curve25519gen: wrote public key to %s.pub\n", base)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&base, "out", "o", "sink", "output file base name: writes BASE.key and BASE.pub")
	f.BoolVarP(&armour, "armour", "a", false, "write PEM instead of raw bytes")
	f.BoolVar(&force, "force", false, "replace existing key files")
	return cmd
}
