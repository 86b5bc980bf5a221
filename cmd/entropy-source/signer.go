package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/spf13/cobra"
)

// tpmDeviceFlag is the harvest's flag naming the TPM: the tpm source's,
// and the signer's when it is given.
const tpmDeviceFlag = "tpm-device"

// loadSigner reads the signer: a private key file, or a TPM key reference
// (FILE.tpm), whose key must be in its TPM as recorded. Every failure is a
// configuration error (exit 2), before anything is sent. For a reference,
// the TPM is --tpm-device when given; otherwise the file's device, which
// the tpm entropy source then reads too.
func loadSigner(cmd *cobra.Command, path string) (crypto.Signer, error) {
	if !tpm.IsReferenceFile(path) {
		return loadKey(path)
	}
	ref, err := tpm.ReadReference(path)
	if err != nil {
		err = cli.Usage(err)
		if errors.Is(err, fs.ErrNotExist) {
			err = cli.Hint(err, "make a key in the TPM with: rsagen --tpm -o signer (or give its reference with -k)")
		}
		return nil, err
	}
	if f := cmd.Flags().Lookup(tpmDeviceFlag); f != nil {
		if f.Changed {
			ref.Device = f.Value.String()
		} else if err := f.Value.Set(ref.Device); err != nil {
			return nil, err
		}
	}
	s, err := tpm.LoadSigner(context.Background(), ref)
	if err == nil {
		return s, nil
	}
	err = cli.Usage(err)
	switch {
	case errors.Is(err, tpm.ErrNoTPM):
		err = cli.Hint(err, "is the TPM's overlay loaded (ls /dev/tpm*)? --tpm-device names another; see docs/BOARD.md")
	case errors.Is(err, fs.ErrPermission):
		err = cli.Hint(err, fmt.Sprintf("run as a user the udev rule lets open %s (docs/BOARD.md)", ref.Device))
	case errors.Is(err, tpm.ErrNoKey):
		err = cli.Hint(err, "the key was evicted or the TPM cleared: make a new one (rsagen --tpm) and give its .pub to every sink")
	case errors.Is(err, tpm.ErrKeyMismatch):
		err = cli.Hint(err, "another key was made at this handle: give its reference file with -k, or make a new key and give its .pub to every sink")
	}
	return nil, err
}

func loadKey(path string) (crypto.Signer, error) {
	k, err := keys.LoadRSAPrivate(path)
	if err != nil {
		return nil, err // exitError gives its exit code and hint
	}
	return k, nil
}
