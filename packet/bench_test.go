package packet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkSeal and BenchmarkOpen measure a whole packet per protocol and
// signer size; BenchmarkSizes reports the table the original printed.

func BenchmarkSeal(b *testing.B) {
	for _, bits := range []int{2048, 3072, 4096} {
		for _, proto := range []Protocol{Protocol1, Protocol2} {
			b.Run(fmt.Sprintf("rsa%d/protocol%d", bits, proto), func(b *testing.B) {
				k := testKey(b, bits)
				sink := testSink(b)
				p := testPacket(b, 1)
				for b.Loop() {
					if _, err := Seal(rand.Reader, p, proto, k, sink.Public()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, bits := range []int{2048, 3072, 4096} {
		for _, proto := range []Protocol{Protocol1, Protocol2} {
			b.Run(fmt.Sprintf("rsa%d/protocol%d", bits, proto), func(b *testing.B) {
				k := testKey(b, bits)
				sink := testSink(b)
				payload, err := Seal(rand.Reader, testPacket(b, 1), proto, k, sink.Public())
				if err != nil {
					b.Fatal(err)
				}
				signers := []Signer{{Key: &k.PublicKey, Legacy: proto == Protocol1}}
				for b.Loop() {
					if _, err := openWith(sink, payload, signers); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSizes reports, per signer size, the ASN.1 packet, the signed
// and sealed payload and the whole frame in bytes: the original's -sizes
// table (1041 and 1381 for its RSA-2048 signer).
func BenchmarkSizes(b *testing.B) {
	for _, bits := range []int{2048, 3072, 4096} {
		b.Run(fmt.Sprintf("rsa%d", bits), func(b *testing.B) {
			k := testKey(b, bits)
			sink := testSink(b)
			p := testPacket(b, 1)
			p.Timestamp = 1700000000
			der, _ := p.marshalDER()
			var frame bytes.Buffer
			for b.Loop() {
				frame.Reset()
				payload, err := Seal(rand.Reader, p, Protocol2, k, sink.Public())
				if err != nil {
					b.Fatal(err)
				}
				if err := WriteFrame(&frame, payload); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(der)), "packet-B")
			b.ReportMetric(float64(frame.Len()-HeaderSize), "sealed-B")
			b.ReportMetric(float64(frame.Len()), "frame-B")
			b.ReportMetric(float64(frame.Len())/ChunkSize, "wire/entropy")
		})
	}
}
