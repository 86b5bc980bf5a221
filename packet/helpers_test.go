package packet

import "time"

// openWith opens payload as r would with signers as its configured signers.
func openWith(r *Recipient, payload []byte, signers []Signer) (*Opened, error) {
	return (&Recipient{private: r.private, public: r.public, signers: signers}).Open(payload)
}

// check applies a sink's acceptance steps 5 and 6, in PROTOCOL.md's order.
func check(p *Packet, now time.Time, drift, stored int64) error {
	if err := CheckDrift(p.Timestamp, now, drift); err != nil {
		return err
	}
	return CheckCounter(p.Counter, stored)
}
