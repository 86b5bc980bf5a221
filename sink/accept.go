package sink

import (
	"errors"
	"fmt"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// opened is a frame that passed steps 2 to 5 of PROTOCOL.md's acceptance
// order (box, signature, packet, drift); the counter is the caller's.
type opened struct {
	*packet.Opened
	name string // of the signer
}

// check applies acceptance steps 2 to 5 to a frame payload. hint, when not
// empty, is a local explanation of a rejection for the log.
func (k *compiled) check(payload []byte, now time.Time, drift int64) (o *opened, hint string, err error) {
	signed, err := k.recipient.OpenBox(payload)
	if err != nil {
		return nil, "", err
	}
	pub := k.recipient.Public()
	po, err := packet.Verify(signed, pub, k.signers)
	if err != nil {
		if errors.Is(err, packet.ErrSignature) {
			hint = k.legacyHint(signed)
		}
		return nil, hint, err
	}
	o = &opened{Opened: po, name: k.names[po.Signer]}
	if err := packet.CheckDrift(po.Packet.Timestamp, now, drift); err != nil {
		return o, "", err
	}
	return o, "", nil
}

// legacyHint explains a signature failure that is a protocol 1 packet from
// a configured signer not marked Legacy: the likeliest mistake when an
// original source feeds a new sink. It costs an RSA verification per
// non-legacy signer, and only for packets that are rejected anyway.
func (k *compiled) legacyHint(signed []byte) string {
	var all []packet.Signer
	for _, s := range k.signers {
		if !s.Legacy {
			all = append(all, packet.Signer{Key: s.Key, Legacy: true})
		} else {
			all = append(all, packet.Signer{}) // already tried
		}
	}
	o, err := packet.Verify(signed, k.recipient.Public(), all)
	if err != nil || o.Protocol != packet.Protocol1 {
		return ""
	}
	field := "Legacy"
	if k.primary {
		if o.Signer > 0 {
			field = fmt.Sprintf("Signers[%d].Legacy", o.Signer-1)
		}
	} else {
		field = fmt.Sprintf("Signers[%d].Legacy", o.Signer)
	}
	return fmt.Sprintf("protocol 1 (original) packet from signer %q, which is not marked legacy; set %q: true to accept it", k.names[o.Signer], field)
}
