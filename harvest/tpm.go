package harvest

import (
	"context"
	"errors"
	"io/fs"

	"github.com/entropyshare/entropyshare/internal/tpm"
)

// The TPM source's defaults and credit (HEALTH.md says why 4 bits).
const (
	tpmBytes = 64
	// tpmBitsPerByte: a TPM's TPM2_GetRandom output comes from its own
	// DRBG, seeded by a noise source no one outside the vendor can
	// inspect. Half credit, as for hwrng.
	tpmBitsPerByte = 4
)

// tpmSource reads a TPM 2.0's random number generator (TPM2_GetRandom)
// at a device (/dev/tpmrm0) or a simulator's tcp://HOST:PORT. No TPM
// there, or no permission to open it, makes it unavailable, not an error.
type tpmSource struct {
	device string // "" for tpm.DefaultDevice
	n      int
}

func (tpmSource) Name() string { return "tpm" }

func (s tpmSource) withSamples(n int) entropySource { s.n = n; return s }

func (s tpmSource) Read(ctx context.Context) (reading, error) {
	device := s.device
	if device == "" {
		device = tpm.DefaultDevice
	}
	data, err := tpm.ReadRandom(ctx, device, s.n)
	switch {
	case errors.Is(err, tpm.ErrNoTPM):
		return reading{}, unavailable("no TPM at %s", device)
	case errors.Is(err, fs.ErrPermission):
		return reading{}, unavailable("permission denied opening %s", device)
	case err != nil:
		return reading{}, err
	}
	return reading{Data: data, BitsPerSample: tpmBitsPerByte, Note: device}, nil
}
