package main

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/spf13/cobra"
)

func newCommand() *cobra.Command {
	var (
		bits    int
		base    string
		armour  bool
		keyFile string
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "rsagen [-s BITS] [-o BASE] [-a] | rsagen -key FILE [-o BASE]",
		Short: "Make the RSA key pair an entropy source signs packets with",
		Long: `rsagen writes a new RSA signer key pair: BASE.key (PKCS#1 DER, mode 0600)
and BASE.pub (PKIX DER, mode 0644), or PEM with -a. The source keeps the
private key; every sink's configuration carries the public key.

With -key it reads an existing private key (DER, PEM or base64) and writes
its public key to BASE.pub.

Existing files are never overwritten unless --force is given.

Exit status: 0 on success, 1 on failure, 2 on a usage error.`,
		Example: `  rsagen                    # signer.key and signer.pub, RSA-3072
  rsagen -s 4096 -o board1  # board1.key and board1.pub
  rsagen -a                 # PEM instead of raw DER
  rsagen -key signer.key -o signer   # recover signer.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if base == "" {
				return cli.Usagef("no output base name (-o)")
			}
			enc := keys.Raw
			if armour {
				enc = keys.PEM
			}
			if keyFile != "" {
				k, err := keys.LoadRSAPrivate(keyFile)
				if err != nil {
					return err
				}
				return writePublic(cmd, k.N.BitLen(), &k.PublicKey, base, enc, force)
			}
			k, err := keys.GenerateRSA(rand.Reader, bits)
			if err != nil {
				return cli.Hint(cli.Usage(err), fmt.Sprintf("use -s with a size from %d to %d", keys.MinRSABits, keys.MaxRSABits))
			}
			priv := keys.MarshalRSAPrivate(k, enc)
			defer clear(priv)
			if err := keys.WriteFile(base+".key", priv, true, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "rsagen: wrote private key to %s.key\n", base)
			return writePublic(cmd, bits, &k.PublicKey, base, enc, force)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&bits, "size", "s", keys.DefaultRSABits, fmt.Sprintf("RSA key size in bits (%d to %d)", keys.MinRSABits, keys.MaxRSABits))
	f.StringVarP(&base, "out", "o", "signer", "output file base name: writes BASE.key and BASE.pub")
	f.BoolVarP(&armour, "armour", "a", false, "write PEM instead of raw DER")
	f.StringVar(&keyFile, "key", "", "existing private key to write the public key of")
	f.BoolVar(&force, "force", false, "replace existing key files")
	return cmd
}

func writePublic(cmd *cobra.Command, bits int, pub *rsa.PublicKey, base string, enc keys.Encoding, force bool) error {
	data, err := keys.MarshalRSAPublic(pub, enc)
	if err != nil {
		return err
	}
	if err := keys.WriteFile(base+".pub", data, false, force); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "rsagen: wrote %d-bit public key to %s.pub\n", bits, base)
	return nil
}
