package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/spf13/cobra"
)

func newCommand() *cobra.Command {
	var (
		base   string
		armour bool
		force  bool
		fpFile string
	)
	cmd := &cobra.Command{
		Use:   "curve25519gen [-o BASE] [-a] | curve25519gen --fingerprint FILE",
		Short: "Make the Curve25519 key pair a sink opens packets with",
		Long: `curve25519gen writes a new Curve25519 key pair: BASE.key (32 raw bytes,
mode 0600) and BASE.pub (32 raw bytes, mode 0644), or PEM with -a. The sink's
configuration carries the private key; the source's targets file carries the
public key.

Existing files are never overwritten unless --force is given.

--fingerprint FILE writes nothing and prints the fingerprint of the public
key, "SHA256:" and the hex SHA-256 of its 32 bytes: what sha256sum prints
for a raw sink.pub, and what entropy-sink check and entropy-source check
(per target) and entropy-target --list show. FILE may be the public key or
the private key (the fingerprint is then its public key's): a file whose
name ends in .key, or PEM "CURVE25519 PRIVATE KEY", is taken as private.

Exit status: 0 on success, 1 on failure, 2 on a usage error.`,
		Example: `  curve25519gen -o sink      # sink.key and sink.pub
  curve25519gen -o vps1 -a   # PEM armoured
  entropy-config -k sink.key -s signer.pub -o sink.json   # then configure the sink
  curve25519gen --fingerprint sink.key    # SHA256:..., as sha256sum sink.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("fingerprint") {
				pub, err := loadPublic(fpFile)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), keys.Curve25519Fingerprint(pub))
				return nil
			}
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
	f.StringVar(&fpFile, "fingerprint", "", "print the fingerprint (SHA256:...) of the public key of `FILE`, a public or private key; write nothing")
	return cmd
}

// loadPublic returns the public key of a Curve25519 key file: a private
// key (named .key, or PEM-typed as private) or a public one. Raw keys are
// 32 random bytes either way: the name tells them apart, as everywhere in
// entropyshare (sink.key, sink.pub).
func loadPublic(path string) (*[keys.Curve25519Size]byte, error) {
	if !strings.HasSuffix(path, ".key") {
		pub, err := keys.LoadCurve25519Public(path)
		if !errors.Is(err, keys.ErrWrongKind) {
			return pub, err
		}
	}
	priv, err := keys.LoadCurve25519Private(path)
	if err != nil {
		return nil, err
	}
	defer clear(priv[:])
	return keys.Curve25519Public(priv)
}
