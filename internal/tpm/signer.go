package tpm

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Signer is a crypto.Signer whose private key is the TPM's signer key.
// Each Sign opens the device, signs and closes it, so that the TPM is
// free between signatures for other users (the harvest's tpm source;
// /dev/tpm0 and a simulator's port serve one client at a time); calls
// from several goroutines take turns.
type Signer struct {
	device string
	handle uint32
	pub    *rsa.PublicKey
	name   tpm2.TPM2BName
	mu     sync.Mutex
}

// LoadSigner checks that the key ref names is at its handle in the TPM at
// ref.Device, with the public key ref records, and returns its signer. A
// TPM that is absent (ErrNoTPM), a handle that is empty (ErrNoKey) and a
// key that is not the one recorded (ErrKeyMismatch) are errors.
func LoadSigner(ctx context.Context, ref *Reference) (*Signer, error) {
	t, err := Open(ref.Device)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := checkHandle(ref.Handle); err != nil {
		return nil, t.err(ref.Handle, err)
	}
	var (
		pub  *rsa.PublicKey
		name tpm2.TPM2BName
	)
	err = t.do(ctx, func(tp transport.TPM) error {
		p, n, err := readKey(tp, ref.Handle)
		if err == nil {
			pub, name = p, n
		}
		return err
	})
	if err == nil {
		err = ref.Check(pub)
	}
	if err != nil {
		return nil, t.err(ref.Handle, err)
	}
	return &Signer{device: ref.Device, handle: ref.Handle, pub: pub, name: name}, nil
}

// Public returns the *rsa.PublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign signs a SHA-256 digest with RSASSA-PSS. opts must be an
// *rsa.PSSOptions with Hash crypto.SHA256; its SaltLength is not obeyed:
// the TPM picks the salt, the largest the key allows (TPM 2.0 Part 1,
// B.7), or the digest's length in a TPM set to FIPS 186 mode. Verifiers
// must accept any salt length (rsa.PSSSaltLengthAuto). The signature is
// verified against the public key before it is returned, so a fault in
// the TPM or a key replaced since LoadSigner gives an error, not a bad
// signature. rand is not used.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, ok := opts.(*rsa.PSSOptions); !ok || opts.HashFunc() != crypto.SHA256 {
		return nil, &Error{Device: s.device, Handle: s.handle, Err: fmt.Errorf("%w: asked for another scheme or hash", ErrNotSigner)}
	}
	if len(digest) != sha256.Size {
		return nil, &Error{Device: s.device, Handle: s.handle, Err: fmt.Errorf("digest is %d bytes, want %d", len(digest), sha256.Size)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := Open(s.device)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	var sig []byte
	err = t.do(context.Background(), func(tp transport.TPM) error {
		rsp, err := tpm2.Sign{
			KeyHandle: tpm2.NamedHandle{Handle: tpm2.TPMHandle(s.handle), Name: s.name},
			Digest:    tpm2.TPM2BDigest{Buffer: digest},
			InScheme: tpm2.TPMTSigScheme{
				Scheme:  tpm2.TPMAlgRSAPSS,
				Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgRSAPSS, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
			},
			// A key that is not restricted signs any digest: a null ticket.
			Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
		}.Execute(tp)
		if errors.Is(err, tpm2.TPMRCHandle) {
			return ErrNoKey
		}
		if err != nil {
			return fmt.Errorf("signing: %w", err)
		}
		pss, err := rsp.Signature.Signature.RSAPSS()
		if err != nil {
			return fmt.Errorf("signing: %w", err)
		}
		sig = pss.Sig.Buffer
		return nil
	})
	if err != nil {
		return nil, t.err(s.handle, err)
	}
	if err := rsa.VerifyPSS(s.pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
		return nil, t.err(s.handle, fmt.Errorf("the TPM's signature does not verify with the key's public part (key replaced?): %w", err))
	}
	return sig, nil
}

// Fingerprint is the SHA-256 of a public key's PKIX DER: what a reference
// file records and what rsagen prints.
func Fingerprint(pub *rsa.PublicKey) ([sha256.Size]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("encoding the public key: %w", err)
	}
	return sha256.Sum256(der), nil
}
