package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/entropyshare/entropyshare/internal/tpm"
	"github.com/entropyshare/entropyshare/internal/tpm/tpmtest"
)

// BenchmarkSign signs one packet's SHA-256 digest with RSASSA-PSS, as the
// source does for every packet: with a key in memory (crypto/rsa) and
// with the same size of key in swtpm, through the tpm package's Signer
// (each signature opens the TPM, signs, checks the signature with the
// public key and closes). swtpm is software on this machine's CPU: a TPM
// chip is far slower (docs/BOARD.md).
func BenchmarkSign(b *testing.B) {
	sim := tpmtest.Start(b)
	digest := sha256.Sum256([]byte("one packet"))
	opts := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 32}
	for i, bits := range tpm.KeySizes {
		soft, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			b.Fatal(err)
		}
		h := tpm.DefaultHandle + uint32(i)
		t, err := tpm.Open(sim.Device)
		if err != nil {
			b.Fatal(err)
		}
		pub, err := t.CreateKey(context.Background(), h, bits, false)
		t.Close()
		if err != nil {
			b.Fatal(err)
		}
		ref, err := tpm.NewReference(sim.Device, h, pub)
		if err != nil {
			b.Fatal(err)
		}
		inTPM, err := tpm.LoadSigner(context.Background(), ref)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range []struct {
			name   string
			signer crypto.Signer
		}{{"software", soft}, {"swtpm", inTPM}} {
			b.Run(fmt.Sprintf("%s/rsa%d", s.name, bits), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.signer.Sign(rand.Reader, digest[:], opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
