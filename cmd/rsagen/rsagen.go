package main

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/tpm"
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
		inTPM   bool
		fp      bool
		t       tpmFlags
	)
	cmd := &cobra.Command{
		Use:   "rsagen [-s BITS] [-o BASE] [-a] | rsagen --tpm [--tpm-device DEV] [--handle H] [-s BITS] [-o BASE] | rsagen -key FILE [-o BASE] | rsagen -key FILE --fingerprint",
		Short: "Make the RSA key pair an entropy source signs packets with",
		Long: `rsagen writes a new RSA signer key pair: BASE.key (PKCS#1 DER, mode 0600)
and BASE.pub (PKIX DER, mode 0644), or PEM with -a. The source keeps the
private key; every sink's configuration carries the public key.

With --tpm the private key is made inside a TPM 2.0 and never leaves it:
an RSA-PSS/SHA-256 signing key that the TPM will not export, under the
owner hierarchy's storage key, made persistent at --handle. rsagen writes
BASE.pub as above and BASE.tpm, a small reference file (the device, the
handle and the SHA-256 of the public key; nothing secret, mode 0644) that
entropy-source -k takes in place of a key file. A handle that already
holds a key is refused unless --force, which destroys that key. TPMs make
RSA-2048 keys and some RSA-3072 (-s 2048 for the others); RSA-4096 is
refused. --tpm-device takes
a device (/dev/tpmrm0) or tcp://HOST:PORT, a TPM simulator's command port
(swtpm socket --tpm2 --server type=tcp,port=PORT --flags
not-need-init,startup-clear).

With -key it reads an existing private key (DER, PEM or base64) and writes
its public key to BASE.pub. Given a reference file (a name ending in .tpm)
it reads the public key from the TPM instead, checks it against the
file's fingerprint, and writes BASE.pub (an identical BASE.pub is left as
it is).

With -key FILE --fingerprint it writes nothing and prints the public key's
fingerprint, "SHA256:" and the hex SHA-256 of its PKIX DER: what sha256sum
prints for a raw signer.pub, and what entropy-source check, entropy-sink
check and entropy-sink status show. FILE may be the private key (the
fingerprint is its public key's), the public key, or a TPM reference file
(the public key is read from the TPM and checked against the file).

Existing files are never overwritten unless --force is given.

Exit status: 0 on success, 1 on failure, 2 on a usage error.`,
		Example: `  rsagen                    # signer.key and signer.pub, RSA-3072
  rsagen -s 4096 -o board1  # board1.key and board1.pub
  rsagen -a                 # PEM instead of raw DER
  rsagen -key signer.key -o signer   # recover signer.pub
  rsagen --tpm -o /etc/entropyshare/signer           # signer.tpm and signer.pub, key in /dev/tpmrm0
  rsagen --tpm -s 2048 --handle 0x81000101 -o board  # a TPM without RSA-3072
  rsagen -key /etc/entropyshare/signer.tpm -o check  # the TPM still holds the key: check.pub
  rsagen -key signer.key --fingerprint               # SHA256:..., as sha256sum signer.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if base == "" {
				return cli.Usagef("no output base name (-o)")
			}
			enc := keys.Raw
			if armour {
				enc = keys.PEM
			}
			t.deviceSet = cmd.Flags().Changed("tpm-device")
			if fp {
				if keyFile == "" || inTPM {
					return cli.Hint(cli.Usagef("--fingerprint prints the fingerprint of an existing key: give -key FILE, without --tpm"),
						"rsagen -key signer.key --fingerprint (or signer.pub, or signer.tpm)")
				}
				pub, err := loadAnyPublic(cmd, keyFile, t)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), keys.Fingerprint(pub))
				return nil
			}
			switch {
			case keyFile != "" && inTPM:
				return cli.Usagef("--tpm makes a new key; -key reads an existing one: give one of them")
			case keyFile != "" && tpm.IsReferenceFile(keyFile):
				return publicFromTPM(cmd, keyFile, t, base, enc, force)
			case keyFile != "":
				k, err := keys.LoadRSAPrivate(keyFile)
				if err != nil {
					return err
				}
				return writePublic(cmd, k.N.BitLen(), &k.PublicKey, base, enc, force)
			case inTPM:
				return createInTPM(cmd, t, bits, base, enc, force)
			case cmd.Flags().Changed("handle") || t.deviceSet:
				return cli.Usagef("--handle and --tpm-device go with --tpm or a -key FILE.tpm")
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
	f.IntVarP(&bits, "size", "s", keys.DefaultRSABits, fmt.Sprintf("RSA key size in bits (%d to %d; with --tpm 2048 or 3072)", keys.MinRSABits, keys.MaxRSABits))
	f.StringVarP(&base, "out", "o", "signer", "output file base name: writes BASE.key (BASE.tpm with --tpm) and BASE.pub")
	f.BoolVarP(&armour, "armour", "a", false, "write PEM instead of raw DER")
	f.StringVar(&keyFile, "key", "", "existing private key, or TPM key reference (FILE.tpm), to write the public key of")
	f.BoolVar(&force, "force", false, "replace existing key files (with --tpm: and the key at --handle)")
	f.BoolVar(&inTPM, "tpm", false, "make the key inside a TPM 2.0, where it stays")
	f.BoolVar(&fp, "fingerprint", false, "print the fingerprint (SHA256:...) of the -key FILE's public key; write nothing")
	f.StringVar(&t.device, "tpm-device", tpm.DefaultDevice, "TPM `DEVICE`, or tcp://HOST:PORT for a simulator (with -key FILE.tpm: default the device the file names)")
	f.StringVar(&t.handle, "handle", fmt.Sprintf("%#x", tpm.DefaultHandle), "persistent `HANDLE` for the --tpm key (0x81000000 to 0x817fffff)")
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

// loadAnyPublic returns the public key of a public key file, of a private
// key file, or of the key a TPM reference file names (read from the TPM
// and checked against the file).
func loadAnyPublic(cmd *cobra.Command, path string, t tpmFlags) (*rsa.PublicKey, error) {
	if tpm.IsReferenceFile(path) {
		pub, _, err := tpmPublic(path, t)
		return pub, err
	}
	pub, err := keys.LoadRSAPublic(path)
	if errors.Is(err, keys.ErrWrongKind) { // a private key
		k, err := keys.LoadRSAPrivate(path)
		if err != nil {
			return nil, err
		}
		defer clear(k.D.Bits())
		return &k.PublicKey, nil
	}
	return pub, err
}
