package tpm

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Reference is what a key reference file (signer.tpm) holds: which TPM,
// which persistent handle, and the SHA-256 of the key's public part (PKIX
// DER), so that a key replaced at that handle is noticed. Nothing in it is
// secret: the file is written 0644, like a public key.
type Reference struct {
	Device      string
	Handle      uint32
	Fingerprint [sha256.Size]byte
}

// referenceType marks the file's JSON, so that another JSON file given as
// a key is told apart, and a later format can be.
const referenceType = "entropyshare TPM 2.0 signer key v1"

// maxReference bounds what ReadReference reads: the file is about 200 bytes.
const maxReference = 4 << 10

type referenceJSON struct {
	Type        string `json:"type"`
	Device      string `json:"device"`
	Handle      string `json:"handle"`
	Fingerprint string `json:"public_key_sha256"`
}

// IsReferenceFile tells a key reference file from a key file by its
// name: it ends in .tpm.
func IsReferenceFile(path string) bool { return filepath.Ext(path) == ".tpm" }

// NewReference records where the key with public part pub is.
func NewReference(device string, handle uint32, pub *rsa.PublicKey) (*Reference, error) {
	fp, err := Fingerprint(pub)
	if err != nil {
		return nil, &Error{Device: device, Handle: handle, Err: err}
	}
	return &Reference{Device: device, Handle: handle, Fingerprint: fp}, nil
}

// Marshal encodes r as the file holds it: indented JSON and a newline.
func (r *Reference) Marshal() []byte {
	b, err := json.MarshalIndent(referenceJSON{
		Type:        referenceType,
		Device:      r.Device,
		Handle:      formatHandle(r.Handle),
		Fingerprint: hex.EncodeToString(r.Fingerprint[:]),
	}, "", "  ")
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return append(b, '\n')
}

func formatHandle(h uint32) string { return fmt.Sprintf("0x%08x", h) }

// ParseHandle reads a persistent handle written in hex (0x81000100) or
// decimal, and checks that it is in the owner's persistent range.
func ParseHandle(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a number", ErrHandle, s)
	}
	if err := checkHandle(uint32(v)); err != nil {
		return 0, fmt.Errorf("%w: %s", err, formatHandle(uint32(v)))
	}
	return uint32(v), nil
}

// ParseReference decodes a reference file's bytes. Every field must be
// there and valid; unknown fields and trailing data are errors.
func ParseReference(data []byte) (*Reference, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j referenceJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReference, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrReference)
	}
	if j.Type != referenceType {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrReference, j.Type, referenceType)
	}
	if j.Device == "" || strings.ContainsAny(j.Device, "\x00\n") {
		return nil, fmt.Errorf("%w: no device", ErrReference)
	}
	h, err := ParseHandle(j.Handle)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReference, err)
	}
	r := &Reference{Device: j.Device, Handle: h}
	if len(j.Fingerprint) != hex.EncodedLen(sha256.Size) || strings.ToLower(j.Fingerprint) != j.Fingerprint {
		return nil, fmt.Errorf("%w: public_key_sha256 is not %d lowercase hex digits", ErrReference, hex.EncodedLen(sha256.Size))
	}
	if _, err := hex.Decode(r.Fingerprint[:], []byte(j.Fingerprint)); err != nil {
		return nil, fmt.Errorf("%w: public_key_sha256: %w", ErrReference, err)
	}
	return r, nil
}

// ReadReference reads a key reference file.
func ReadReference(path string) (*Reference, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{Path: path, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxReference+1))
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if len(data) > maxReference {
		return nil, &Error{Path: path, Err: fmt.Errorf("%w: larger than %d bytes", ErrReference, maxReference)}
	}
	r, err := ParseReference(data)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	return r, nil
}

// Check compares a public key with the one r records: ErrKeyMismatch if
// they differ.
func (r *Reference) Check(pub *rsa.PublicKey) error {
	fp, err := Fingerprint(pub)
	if err != nil {
		return err
	}
	if fp != r.Fingerprint {
		return fmt.Errorf("%w: its public key's SHA-256 is %x, the reference file records %x", ErrKeyMismatch, fp, r.Fingerprint)
	}
	return nil
}
