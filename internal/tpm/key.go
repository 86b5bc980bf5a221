package tpm

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Key sizes CreateKey makes. The TCG's PC Client profile asks TPMs for
// RSA-2048, newer chips add RSA-3072; RSA-4096 is outside the profile and
// few TPMs implement it.
var KeySizes = []int{2048, 3072}

// signerTemplate is the signer key's public area: an RSA key generated
// inside the TPM (SensitiveDataOrigin) that can never be duplicated to
// another TPM or parent (FixedTPM, FixedParent), that signs and does
// nothing else (SignEncrypt without Decrypt; not Restricted, so it signs
// digests it did not compute itself), with the scheme fixed to RSASSA-PSS
// over SHA-256. Its authorisation value is empty (UserWithAuth): who may
// open the TPM device may sign, which the device's permissions decide.
// NoDA keeps it out of dictionary-attack lockout, which an empty
// password cannot trip but a stranger's guesses at another could.
func signerTemplate(bits int) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgRSA,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:            true,
			FixedParent:         true,
			SensitiveDataOrigin: true,
			UserWithAuth:        true,
			NoDA:                true,
			SignEncrypt:         true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, rsaParms(bits)),
		Unique:     tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{}),
	}
}

func rsaParms(bits int) *tpm2.TPMSRSAParms {
	return &tpm2.TPMSRSAParms{
		Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
		Scheme: tpm2.TPMTRSAScheme{
			Scheme:  tpm2.TPMAlgRSAPSS,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSAPSS, &tpm2.TPMSSigSchemeRSAPSS{HashAlg: tpm2.TPMAlgSHA256}),
		},
		KeyBits: tpm2.TPMKeyBits(bits),
	}
}

// CreateKey makes a new signer key (see signerTemplate) under the owner
// hierarchy's storage primary key and makes it persistent at handle. A
// handle that already holds an object is refused (ErrHandleInUse) unless
// force, when that object is evicted first. It returns the new key's
// public part.
func (t *TPM) CreateKey(ctx context.Context, handle uint32, bits int, force bool) (*rsa.PublicKey, error) {
	if err := checkHandle(handle); err != nil {
		return nil, t.err(handle, err)
	}
	switch bits {
	case 2048, 3072:
	case 4096:
		return nil, t.err(0, fmt.Errorf("%w: RSA-4096 is outside the TCG's PC Client profile and few TPMs implement it; use 2048 or 3072", ErrKeySize))
	default:
		return nil, t.err(0, fmt.Errorf("%w: %d bits, want 2048 or 3072", ErrKeySize, bits))
	}
	var pub *rsa.PublicKey
	err := t.do(ctx, func(tp transport.TPM) error {
		p, err := createKey(tp, handle, bits, force)
		if err == nil {
			pub = p
		}
		return err
	})
	if err != nil {
		var h *handleErr
		if errors.As(err, &h) {
			return nil, t.err(handle, h.err)
		}
		return nil, t.err(0, err)
	}
	return pub, nil
}

// handleErr marks an error as being about the persistent handle.
type handleErr struct{ err error }

func (e *handleErr) Error() string { return e.err.Error() }
func (e *handleErr) Unwrap() error { return e.err }

func createKey(tp transport.TPM, handle uint32, bits int, force bool) (*rsa.PublicKey, error) {
	if _, err := (tpm2.TestParms{Parameters: tpm2.TPMTPublicParms{
		Type:       tpm2.TPMAlgRSA,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, rsaParms(bits)),
	}}).Execute(tp); err != nil {
		if errors.Is(err, tpm2.TPMRCKeySize) || errors.Is(err, tpm2.TPMRCValue) || errors.Is(err, tpm2.TPMRCScheme) {
			return nil, fmt.Errorf("%w: this TPM does not make RSA-%d PSS keys (%w)", ErrKeySize, bits, err)
		}
		return nil, fmt.Errorf("checking RSA-%d support: %w", bits, err)
	}

	old, err := tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(handle)}.Execute(tp)
	switch {
	case err == nil && !force:
		return nil, &handleErr{fmt.Errorf("%w (use --force to replace it; the key there is lost)", ErrHandleInUse)}
	case err == nil:
		if _, err := (tpm2.EvictControl{
			Auth:             tpm2.TPMRHOwner,
			ObjectHandle:     tpm2.NamedHandle{Handle: tpm2.TPMHandle(handle), Name: old.Name},
			PersistentHandle: tpm2.TPMIDHPersistent(handle),
		}).Execute(tp); err != nil {
			return nil, &handleErr{fmt.Errorf("evicting the key there: %w", err)}
		}
	case !errors.Is(err, tpm2.TPMRCHandle):
		return nil, &handleErr{fmt.Errorf("reading the handle: %w", err)}
	}

	primary, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("creating the owner's storage primary key: %w", err)
	}
	defer flush(tp, primary.ObjectHandle)
	parent := tpm2.NamedHandle{Handle: primary.ObjectHandle, Name: primary.Name}

	created, err := tpm2.Create{
		ParentHandle: parent,
		InPublic:     tpm2.New2B(signerTemplate(bits)),
	}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("creating an RSA-%d key: %w", bits, err)
	}
	loaded, err := tpm2.Load{
		ParentHandle: parent,
		InPrivate:    created.OutPrivate,
		InPublic:     created.OutPublic,
	}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("loading the new key: %w", err)
	}
	defer flush(tp, loaded.ObjectHandle)
	if _, err := (tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name},
		PersistentHandle: tpm2.TPMIDHPersistent(handle),
	}).Execute(tp); err != nil {
		return nil, &handleErr{fmt.Errorf("making the key persistent: %w", err)}
	}
	pub, _, err := readKey(tp, handle)
	return pub, err
}

func flush(tp transport.TPM, h tpm2.TPMHandle) {
	tpm2.FlushContext{FlushHandle: h}.Execute(tp)
}

func checkHandle(h uint32) error {
	if h < minOwnerPersistent || h > maxOwnerPersistent {
		return ErrHandle
	}
	return nil
}

// PublicKey reads the public part of the signer key at handle: ErrNoKey
// when nothing is there, ErrNotSigner when what is there is not a key
// CreateKey would make.
func (t *TPM) PublicKey(ctx context.Context, handle uint32) (*rsa.PublicKey, error) {
	if err := checkHandle(handle); err != nil {
		return nil, t.err(handle, err)
	}
	var pub *rsa.PublicKey
	err := t.do(ctx, func(tp transport.TPM) error {
		p, _, err := readKey(tp, handle)
		if err == nil {
			pub = p
		}
		return err
	})
	if err != nil {
		return nil, t.err(handle, err)
	}
	return pub, nil
}

// readKey reads the key at handle and checks that it signs RSA-PSS with
// SHA-256 and stays in the TPM.
func readKey(tp transport.TPM, handle uint32) (*rsa.PublicKey, tpm2.TPM2BName, error) {
	rsp, err := tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(handle)}.Execute(tp)
	if errors.Is(err, tpm2.TPMRCHandle) {
		return nil, tpm2.TPM2BName{}, ErrNoKey
	}
	if err != nil {
		return nil, tpm2.TPM2BName{}, fmt.Errorf("reading the key: %w", err)
	}
	pub, err := rsaPublic(&rsp.OutPublic)
	return pub, rsp.Name, err
}

func rsaPublic(p *tpm2.TPM2BPublic) (*rsa.PublicKey, error) {
	area, err := p.Contents()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSigner, err)
	}
	if area.Type != tpm2.TPMAlgRSA {
		return nil, fmt.Errorf("%w: object type %#x, want RSA", ErrNotSigner, uint16(area.Type))
	}
	a := area.ObjectAttributes
	if !a.SignEncrypt || a.Decrypt || a.Restricted || !a.FixedTPM || !a.SensitiveDataOrigin {
		return nil, fmt.Errorf("%w: its attributes are not a sign-only key made inside the TPM", ErrNotSigner)
	}
	detail, err := area.Parameters.RSADetail()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSigner, err)
	}
	if detail.Scheme.Scheme != tpm2.TPMAlgRSAPSS {
		return nil, fmt.Errorf("%w: scheme %#x", ErrNotSigner, uint16(detail.Scheme.Scheme))
	}
	if pss, err := detail.Scheme.Details.RSAPSS(); err != nil || pss.HashAlg != tpm2.TPMAlgSHA256 {
		return nil, fmt.Errorf("%w: its scheme's hash is not SHA-256", ErrNotSigner)
	}
	unique, err := area.Unique.RSA()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSigner, err)
	}
	return tpm2.RSAPub(detail, unique)
}
