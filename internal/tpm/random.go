package tpm

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Random fills p from the TPM's random number generator (TPM2_GetRandom,
// which gives at most a digest's worth, 32 or 64 bytes, per command). When
// ctx ends first, it returns ctx's error and the TPM is closed; p is
// written only on success.
func (t *TPM) Random(ctx context.Context, p []byte) error {
	var out []byte
	err := t.do(ctx, func(tp transport.TPM) error {
		buf := make([]byte, len(p))
		for n := 0; n < len(buf); {
			want := min(len(buf)-n, 0xffff)
			rsp, err := tpm2.GetRandom{BytesRequested: uint16(want)}.Execute(tp)
			if err != nil {
				return fmt.Errorf("TPM2_GetRandom: %w", err)
			}
			got := rsp.RandomBytes.Buffer
			if len(got) == 0 || len(got) > want {
				return fmt.Errorf("TPM2_GetRandom gave %d bytes, asked for %d", len(got), want)
			}
			n += copy(buf[n:], got)
			clear(got)
		}
		out = buf
		return nil
	})
	if err != nil {
		return t.err(0, err)
	}
	copy(p, out)
	clear(out)
	return nil
}

// ReadRandom opens the TPM at device, reads n bytes of its generator's
// output and closes it. An absent TPM gives an error wrapping ErrNoTPM.
func ReadRandom(ctx context.Context, device string, n int) ([]byte, error) {
	t, err := Open(device)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	buf := make([]byte, n)
	if err := t.Random(ctx, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
