package harvest

import (
	"encoding/binary"

	"lukechampine.com/blake3"
)

// A record is one named input to the mix.
type record struct {
	name string
	data []byte
}

// encodeRecords frames records unambiguously: for each, the name's length
// (4 bytes, big-endian), the name, the data's length (8 bytes) and the
// data. No two different lists of records encode the same.
func encodeRecords(records []record) []byte {
	n := 0
	for _, r := range records {
		n += 12 + len(r.name) + len(r.data)
	}
	buf := make([]byte, 0, n)
	for _, r := range records {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.name)))
		buf = append(buf, r.name...)
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(r.data)))
		buf = append(buf, r.data...)
	}
	return buf
}

// mixKey derives a generator key from records with BLAKE3 in derive-key
// mode under seedContext.
func mixKey(records []record) [seedSize]byte {
	buf := encodeRecords(records)
	var key [seedSize]byte
	blake3.DeriveKey(key[:], seedContext, buf)
	clear(buf)
	return key
}
