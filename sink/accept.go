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
// empty, is a local explanation of a rejection for the log; withHint false
// spares the verification it may cost (packet.Recipient.OpenWithoutHint).
func (k *compiled) check(payload []byte, now time.Time, drift int64, withHint bool) (o *opened, hint string, err error) {
	open := k.recipient.Open
	if !withHint {
		open = k.recipient.OpenWithoutHint
	}
	po, err := open(payload)
	if err != nil {
		var le *packet.LegacyError
		if errors.As(err, &le) {
			hint = k.legacyHint(le.Signer)
		}
		return nil, hint, err
	}
	o = &opened{Opened: po, name: k.names[po.Signer]}
	if err := packet.CheckDrift(po.Packet.Timestamp, now, drift); err != nil {
		return o, "", err
	}
	return o, "", nil
}

// legacyHint explains a protocol 1 packet from signer i, which is not
// marked Legacy: the likeliest mistake when an original source feeds a new
// sink.
func (k *compiled) legacyHint(i int) string {
	field := "Legacy"
	if k.primary {
		if i > 0 {
			field = fmt.Sprintf("Signers[%d].Legacy", i-1)
		}
	} else {
		field = fmt.Sprintf("Signers[%d].Legacy", i)
	}
	return fmt.Sprintf("protocol 1 (original) packet from signer %q, which is not marked legacy; set %q: true to accept it", k.names[i], field)
}
