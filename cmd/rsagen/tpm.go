package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/spf13/cobra"
)

// tpmFlags are the flags of a key kept in a TPM.
type tpmFlags struct {
	device    string
	deviceSet bool // --tpm-device was given
	handle    string
}

// createInTPM makes the key in the TPM and writes BASE.pub and BASE.tpm.
func createInTPM(cmd *cobra.Command, f tpmFlags, bits int, base string, enc keys.Encoding, force bool) error {
	handle, err := tpm.ParseHandle(f.handle)
	if err != nil {
		return cli.Hint(cli.Usage(fmt.Errorf("--handle: %w", err)), fmt.Sprintf("the default is %#x", tpm.DefaultHandle))
	}
	if !slices.Contains(tpm.KeySizes, bits) {
		why := "a TPM key is 2048 or 3072 bits"
		if bits == 4096 {
			why = "TPMs rarely support RSA-4096 (the TCG's PC Client profile asks for RSA-2048; newer chips add 3072)"
		}
		return cli.Hint(cli.Usage(fmt.Errorf("--tpm -s %d: %s", bits, why)), "use -s 3072, or -s 2048 for a TPM without RSA-3072")
	}
	// Refuse before the TPM is touched: a key made in it and then not
	// recorded would sit at its handle, unknown to any reference.
	if !force {
		for _, name := range []string{base + ".pub", base + ".tpm"} {
			if _, err := os.Lstat(name); err == nil {
				return &keys.FileError{Path: name, Err: fmt.Errorf("%w: refusing to overwrite a key (use --force to replace it)", keys.ErrExists)}
			}
		}
	}
	t, err := tpm.Open(f.device)
	if err != nil {
		return tpmHint(err, f.device)
	}
	defer t.Close()
	fmt.Fprintf(cmd.ErrOrStderr(), "rsagen: making an RSA-%d key in %s (a TPM may take a minute)\n", bits, f.device)
	pub, err := t.CreateKey(context.Background(), handle, bits, force)
	if err != nil {
		if errors.Is(err, tpm.ErrKeySize) && bits == 3072 {
			return cli.Hint(err, "use -s 2048")
		}
		return tpmHint(err, f.device)
	}
	ref, err := tpm.NewReference(f.device, handle, pub)
	if err != nil {
		return err
	}
	if err := writePublic(cmd, bits, pub, base, enc, force); err != nil {
		return cli.Hint(err, fmt.Sprintf("the key is in the TPM at %#x: rsagen --tpm --force --handle %#x makes a new one", handle, handle))
	}
	if err := keys.WriteFile(base+".tpm", ref.Marshal(), false, force); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "rsagen: key at handle %#x in %s; wrote its reference to %s.tpm (public key SHA-256 %x)\n", handle, f.device, base, ref.Fingerprint)
	return nil
}

// publicFromTPM reads the key a reference file names from its TPM, checks
// it against the file and writes BASE.pub.
func publicFromTPM(cmd *cobra.Command, path string, f tpmFlags, base string, enc keys.Encoding, force bool) error {
	pub, ref, err := tpmPublic(path, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "rsagen: %s: the TPM holds the %d-bit key at handle %#x, public key SHA-256 %x as recorded\n",
		path, pub.N.BitLen(), ref.Handle, ref.Fingerprint)
	data, err := keys.MarshalRSAPublic(pub, enc)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(base + ".pub"); err == nil && bytes.Equal(old, data) && !force {
		fmt.Fprintf(cmd.ErrOrStderr(), "rsagen: %s.pub already holds this public key\n", base)
		return nil
	}
	return writePublic(cmd, pub.N.BitLen(), pub, base, enc, force)
}

// tpmPublic reads the public key of the key a reference file names from
// its TPM (--tpm-device overrides the file's device), checked against the
// file's fingerprint.
func tpmPublic(path string, f tpmFlags) (*rsa.PublicKey, *tpm.Reference, error) {
	ref, err := tpm.ReadReference(path)
	if err != nil {
		return nil, nil, err
	}
	if f.deviceSet {
		ref.Device = f.device
	}
	s, err := tpm.LoadSigner(context.Background(), ref)
	if err != nil {
		return nil, nil, tpmHint(err, ref.Device)
	}
	return s.Public().(*rsa.PublicKey), ref, nil
}

// tpmHint adds the fix an operator needs to a TPM error.
func tpmHint(err error, device string) error {
	switch {
	case errors.Is(err, tpm.ErrNoTPM):
		return cli.Hint(err, "is the TPM's overlay loaded (ls /dev/tpm*)? give another device with --tpm-device; see docs/BOARD.md")
	case errors.Is(err, fs.ErrPermission):
		return cli.Hint(err, fmt.Sprintf("run as root or as a user the udev rule lets open %s (docs/BOARD.md)", device))
	case errors.Is(err, tpm.ErrHandleInUse):
		return cli.Hint(err, "pick another --handle, or --force to destroy the key there")
	case errors.Is(err, tpm.ErrNoKey):
		return cli.Hint(err, "the key was evicted or the TPM cleared: make a new one with rsagen --tpm and give its .pub to every sink")
	case errors.Is(err, tpm.ErrKeyMismatch):
		return cli.Hint(err, "another key was made at this handle since the reference file was written")
	}
	return err
}
