package packet

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/entropyshare/entropyshare/internal/vectors"
)

var (
	keyMu    sync.Mutex
	keyCache = map[int]*rsa.PrivateKey{}
)

// testKey returns an RSA key of the given size, generated once per test
// binary: 4096-bit generation takes seconds.
func testKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	keyCache[bits] = k
	return k
}

func testSink(t testing.TB) *Recipient {
	t.Helper()
	_, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecipient(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testPacket(t testing.TB, counter int64) *Packet {
	t.Helper()
	p := &Packet{Timestamp: 1700000000 + counter, Counter: counter}
	if _, err := rand.Read(p.Chunk[:]); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	for _, bits := range []int{2048, 3072, 4096} {
		for _, proto := range []Protocol{Protocol1, Protocol2} {
			t.Run(fmt.Sprintf("rsa%d/protocol%d", bits, proto), func(t *testing.T) {
				k := testKey(t, bits)
				sink := testSink(t)
				p := testPacket(t, 42)
				payload, err := Seal(rand.Reader, p, proto, k, sink.Public())
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := WriteFrame(&buf, payload); err != nil {
					t.Fatal(err)
				}
				// Frame sizes as PROTOCOL.md gives them for small values.
				if want := map[int]int{2048: 1383, 3072: 1511, 4096: 1639}[bits]; buf.Len() != want {
					t.Errorf("frame is %d bytes, want %d", buf.Len(), want)
				}
				op, err := openFrame(buf.Bytes(), sink, []Signer{{Key: &k.PublicKey, Legacy: proto == Protocol1}})
				if err != nil {
					t.Fatal(err)
				}
				if op.Protocol != proto || *op.Packet != *p || op.Signer != 0 {
					t.Fatalf("opened protocol %v signer %d, packet equal %v", op.Protocol, op.Signer, *op.Packet == *p)
				}
			})
		}
	}
}

// Protocol 1 frames made here must open under the original's rules: the
// signature over SHA-256(PacketDER), PSS with the salt length detected.
func TestProtocol1IsOriginal(t *testing.T) {
	k := testKey(t, 2048)
	sink := testSink(t)
	p := testPacket(t, 7)
	signed, err := sign(rand.Reader, p, Protocol1, k, sink.Public())
	if err != nil {
		t.Fatal(err)
	}
	var w wireSigned
	if rest, err := asn1.Unmarshal(signed, &w); err != nil || len(rest) != 0 {
		t.Fatalf("SignedDER: %v, %d trailing", err, len(rest))
	}
	der, _ := p.marshalDER()
	if !bytes.Equal(w.Message, der) {
		t.Fatal("message is not PacketDER")
	}
	if err := rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, digestV1(der), w.Signature, nil); err != nil {
		t.Fatalf("original verifier (auto salt) refuses: %v", err)
	}
	// The original signs with the largest salt: so does this.
	if err := rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, digestV1(der), w.Signature,
		&rsa.PSSOptions{SaltLength: k.Size() - 2 - 32}); err != nil {
		t.Fatalf("salt is not the maximum: %v", err)
	}
	if len(w.Signature) != k.Size() {
		t.Fatalf("signature %d bytes", len(w.Signature))
	}
}

func TestProtocol2IsNotProtocol1(t *testing.T) {
	k := testKey(t, 2048)
	sink := testSink(t)
	payload, err := Seal(rand.Reader, testPacket(t, 1), Protocol2, k, sink.Public())
	if err != nil {
		t.Fatal(err)
	}
	// A verifier speaking only protocol 1 (the original sink) must refuse v2.
	signed, err := sink.openBox(payload)
	if err != nil {
		t.Fatal(err)
	}
	der, sig, err := parseSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	if rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, digestV1(der), sig, nil) == nil {
		t.Fatal("protocol 2 signature verifies as protocol 1")
	}
}

// The forwarding attack that protocol 2 exists to stop: sink A opens a
// packet, then re-seals the signed bytes to its neighbour B, which shares
// A's source. B knows the packet's signer; only the binding of the signature
// to B's own public key lets it tell the packet was never meant for it.
func TestForwardingAttack(t *testing.T) {
	k := testKey(t, 2048)
	a, b := testSink(t), testSink(t)
	for _, tc := range []struct {
		proto   Protocol
		legacy  bool
		wantErr error
	}{
		{Protocol2, false, ErrSignature},
		{Protocol2, true, ErrSignature},
		{Protocol1, true, nil}, // the flaw: B accepts what A forwarded
	} {
		t.Run(fmt.Sprintf("protocol%d/legacy=%v", tc.proto, tc.legacy), func(t *testing.T) {
			signers := []Signer{{Key: &k.PublicKey, Legacy: tc.legacy}}
			payload, err := Seal(rand.Reader, testPacket(t, 9), tc.proto, k, a.Public())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := openWith(a, payload, signers); err != nil {
				t.Fatalf("A cannot open its own packet: %v", err)
			}
			signed, err := a.openBox(payload)
			if err != nil {
				t.Fatal(err)
			}
			forwarded, err := sealBox(rand.Reader, signed, b.Public())
			if err != nil {
				t.Fatal(err)
			}
			op, err := openWith(b, forwarded, signers)
			if tc.wantErr == nil {
				if err != nil || op.Protocol != Protocol1 {
					t.Fatalf("protocol 1 forward: %v (the attack should succeed)", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("forwarded packet: err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestSeveralSigners(t *testing.T) {
	k1, k2 := testKey(t, 2048), testKey(t, 3072)
	sink := testSink(t)
	signers := []Signer{{Key: &k1.PublicKey}, {Key: &k2.PublicKey}}
	payload, err := Seal(rand.Reader, testPacket(t, 3), Protocol2, k2, sink.Public())
	if err != nil {
		t.Fatal(err)
	}
	op, err := openWith(sink, payload, signers)
	if err != nil || op.Signer != 1 {
		t.Fatalf("op %+v err %v, want signer 1", op, err)
	}
	if _, err := openWith(sink, payload, signers[:1]); !errors.Is(err, ErrSignature) {
		t.Fatalf("unknown signer: %v", err)
	}
}

func TestSignRefusesWeakKeysAndUnknownProtocols(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err == nil {
		_, err = sign(rand.Reader, testPacket(t, 1), Protocol2, small, testSink(t).Public())
		if err == nil || !strings.Contains(err.Error(), "1024 bits") {
			t.Errorf("1024-bit signer: %v", err)
		}
	}
	if _, err := sign(rand.Reader, testPacket(t, 1), Protocol(3), testKey(t, 2048), testSink(t).Public()); err == nil {
		t.Error("protocol 3 signed")
	}
}

func TestLowOrderEphemeralRejected(t *testing.T) {
	sink := testSink(t)
	payload, err := Seal(rand.Reader, testPacket(t, 1), Protocol2, testKey(t, 2048), sink.Public())
	if err != nil {
		t.Fatal(err)
	}
	// u = 0 has order 1 and u = 1 order 4: both give an all-zero secret.
	for _, u := range []byte{0, 1} {
		clear(payload[:KeySize])
		payload[0] = u
		if _, err := sink.openBox(payload); !errors.Is(err, ErrDecrypt) || !errors.Is(err, errLowOrder) {
			t.Fatalf("u=%d: err = %v, want ErrDecrypt for a low-order key", u, err)
		}
	}
}

// openBox derives the box key itself (X25519 and HSalsa20) instead of
// calling box.Precompute: it must open exactly what nacl/box opens,
// including ephemeral keys with the top bit set, which X25519 ignores.
func TestOpenBoxAgreesWithNaCl(t *testing.T) {
	var priv [KeySize]byte
	for i := range 200 {
		rand.Read(priv[:])
		sink, err := NewRecipient(&priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, i)
		rand.Read(msg)
		payload, err := sealBox(rand.Reader, msg, sink.Public())
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 1:
			payload[KeySize-1] ^= 0x80 // non-canonical encoding, same point
		case 2:
			payload[len(payload)-1] ^= 1 // tampered box
		}
		var eph [KeySize]byte
		var nonce [NonceSize]byte
		copy(eph[:], payload)
		copy(nonce[:], payload[KeySize:])
		want, wantOK := box.Open(nil, payload[KeySize+NonceSize:], &nonce, &eph, &priv)
		got, err := sink.openBox(payload)
		if (err == nil) != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("case %d: openBox = %x, %v; nacl/box.Open = %x, %v", i, got, err, want, wantOK)
		}
		if i%3 == 2 && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("tampered box: %v, want ErrDecrypt", err)
		}
		if i%3 != 2 && !wantOK {
			t.Fatalf("case %d: nacl/box cannot open what sealBox sealed", i)
		}
	}
}

// Sealing to a low-order sink key would give a box key anyone can
// compute: sealBox refuses it.
func TestSealBoxRefusesLowOrderSink(t *testing.T) {
	for _, u := range []byte{0, 1} {
		var sink [KeySize]byte
		sink[0] = u
		if _, err := sealBox(rand.Reader, []byte("x"), &sink); err == nil || !errors.Is(err, errLowOrder) {
			t.Fatalf("u=%d: err = %v, want the low-order refusal", u, err)
		}
	}
}

func TestFrameBoundaries(t *testing.T) {
	for _, tc := range []struct {
		length, max int
		ok          bool
	}{
		{0, DefaultMaxFrame, false},
		{MinFrame - 1, DefaultMaxFrame, false},
		{MinFrame, DefaultMaxFrame, true},
		{DefaultMaxFrame, DefaultMaxFrame, true},
		{DefaultMaxFrame + 1, DefaultMaxFrame, false},
		{MaxFrameLimit, MaxFrameLimit, true},
		{2000, 1999, false},
	} {
		t.Run(fmt.Sprintf("%d/max%d", tc.length, tc.max), func(t *testing.T) {
			frame := make([]byte, HeaderSize+tc.length)
			frame[0], frame[1] = byte(tc.length>>8), byte(tc.length)
			payload, err := ReadFrame(bytes.NewReader(frame), tc.max)
			if tc.ok {
				if err != nil || len(payload) != tc.length {
					t.Fatalf("len %d err %v", len(payload), err)
				}
				var buf bytes.Buffer
				if err := WriteFrame(&buf, payload); err != nil || !bytes.Equal(buf.Bytes(), frame) {
					t.Fatalf("WriteFrame does not reproduce the frame: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrFrameSize) {
				t.Fatalf("err = %v, want ErrFrameSize", err)
			}
			if tc.length < MinFrame || tc.length > MaxFrameLimit {
				if err := WriteFrame(io.Discard, make([]byte, tc.length)); !errors.Is(err, ErrFrameSize) {
					t.Fatalf("WriteFrame of %d bytes: %v", tc.length, err)
				}
			}
		})
	}
}

// countingReader records how much was asked of it: an oversize frame must be
// refused after the header, before a byte of payload is read.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestFrameRefusedBeforeReading(t *testing.T) {
	frame := append([]byte{0x10, 0x01}, make([]byte, 4097)...)
	cr := &countingReader{r: bytes.NewReader(frame)}
	if _, err := ReadFrame(cr, DefaultMaxFrame); !errors.Is(err, ErrFrameSize) {
		t.Fatal(err)
	}
	if cr.read != HeaderSize {
		t.Fatalf("read %d bytes, want only the %d-byte header", cr.read, HeaderSize)
	}
}

func TestShortReads(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 1382} {
		frame := vectors.Read(t, "valid-1.frame")[:n]
		_, err := ReadFrame(bytes.NewReader(frame), 0)
		if !errors.Is(err, ErrFrameSize) {
			t.Fatalf("%d bytes: err = %v", n, err)
		}
		if n > HeaderSize && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d bytes: err = %v, want io.ErrUnexpectedEOF too", n, err)
		}
	}
}

func TestChunkSizes(t *testing.T) {
	k := testKey(t, 2048)
	sink := testSink(t)
	for _, size := range []int{0, 1023, 1024, 1025, 4000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			der, err := asn1.Marshal(wirePacket{1700000000, 5, make([]byte, size)})
			if err != nil {
				t.Fatal(err)
			}
			_, perr := parsePacketDER(der)
			signed := signRaw(t, k, sink, der)
			payload, err := sealBox(rand.Reader, signed, sink.Public())
			if err != nil {
				t.Fatal(err)
			}
			_, oerr := openWith(sink, payload, []Signer{{Key: &k.PublicKey}})
			for _, err := range []error{perr, oerr} {
				if size == ChunkSize {
					if err != nil {
						t.Fatal(err)
					}
				} else if !errors.Is(err, ErrChunkSize) {
					t.Fatalf("err = %v, want ErrChunkSize", err)
				}
			}
		})
	}
}

// signRaw signs arbitrary message bytes as protocol 2 would, for tests that
// need a valid signature over something malformed.
func signRaw(t testing.TB, k *rsa.PrivateKey, sink *Recipient, msg []byte) []byte {
	t.Helper()
	sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digestV2(sink.Public(), msg), &rsa.PSSOptions{SaltLength: v2SaltLength})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := marshalSigned(msg, sig)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestMalformed(t *testing.T) {
	k := testKey(t, 2048)
	sink := testSink(t)
	good, _ := testPacket(t, 1).marshalDER()
	trailing := append(append([]byte(nil), good...), 0)
	// Long-form length where short form fits: BER, not DER.
	nonMinimal := append([]byte{0x30, 0x83, 0x00}, good[2:]...)
	wrongTypes, _ := asn1.Marshal(struct{ A, B, C string }{"a", "b", "c"})
	missing, _ := asn1.Marshal(struct{ A, B int64 }{1, 2})
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("not asn.1 at all"), ErrMalformed},
		{"trailing byte", trailing, ErrMalformed},
		{"non-minimal length", nonMinimal, ErrMalformed},
		{"wrong types", wrongTypes, ErrMalformed},
		{"missing chunk", missing, ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parsePacketDER(tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("parsePacketDER: %v, want %v", err, tc.want)
			}
			payload, err := sealBox(rand.Reader, signRaw(t, k, sink, tc.msg), sink.Public())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := openWith(sink, payload, []Signer{{Key: &k.PublicKey}}); !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
	// SignedDER itself malformed, and signatures that cannot verify.
	for _, tc := range []struct {
		name   string
		signed []byte
		want   error
	}{
		{"signed garbage", []byte{0x30, 0x03, 0x04, 0x01}, ErrMalformed},
		{"signed trailing", append(signRaw(t, k, sink, good), 0), ErrMalformed},
		{"unsigned", mustSigned(t, good, nil), ErrUnsigned},
		{"short signature", mustSigned(t, good, []byte{1, 2, 3}), ErrSignature},
		{"zero signature", mustSigned(t, good, make([]byte, 256)), ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := sealBox(rand.Reader, tc.signed, sink.Public())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := openWith(sink, payload, []Signer{{Key: &k.PublicKey, Legacy: true}}); !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

func mustSigned(t testing.TB, msg, sig []byte) []byte {
	b, err := marshalSigned(msg, sig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheck(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		ts, counter, stored, drift int64
		want                       error
	}{
		{1700000000, 1, 0, 0, nil},
		{1700000120, 1, 0, 120, nil},
		{1699999880, 1, 0, 120, nil},
		{1700000121, 1, 0, 120, ErrDrift},
		{1699999879, 1, 0, 120, ErrDrift},
		{1700000001, 1, 0, 0, ErrDrift},
		{1700000000, 5, 5, 120, ErrCounter},
		{1700000000, 4, 5, 120, ErrCounter},
		{1700000000, -1, 0, 120, ErrCounter},
		{-1 << 63, 1, 0, 1<<63 - 1, ErrDrift}, // distance just above MaxInt64 must not wrap
		{1<<63 - 1, 1, 0, 120, ErrDrift},
		{1700000000, 1<<63 - 1, 1<<63 - 2, 0, nil},
	} {
		err := check(&Packet{Timestamp: tc.ts, Counter: tc.counter}, now, tc.drift, tc.stored)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("check(ts %d, counter %d, stored %d, drift %d) = %v, want %v", tc.ts, tc.counter, tc.stored, tc.drift, err, tc.want)
		}
	}
	// The replies carry the values the protocol promises.
	s, v := ReplyFor(check(&Packet{Timestamp: 1700000000, Counter: 3}, now, 0, 9))
	if s != StatusCounter || v != 9 {
		t.Errorf("counter reply %v %d", s, v)
	}
	s, v = ReplyFor(check(&Packet{Timestamp: 1, Counter: 30}, now, 0, 9))
	if s != StatusDrift || v != 1700000000 {
		t.Errorf("drift reply %v %d", s, v)
	}
}

func TestStatusReplies(t *testing.T) {
	for _, s := range []Status{StatusAccepted, StatusUnverified, StatusCounter, StatusDrift, StatusMalformed, StatusUnavailable, StatusBusy} {
		var buf bytes.Buffer
		if err := WriteStatus(&buf, s, -42); err != nil {
			t.Fatal(err)
		}
		want := 1
		if s.HasValue() {
			want = 9
		}
		if buf.Len() != want {
			t.Fatalf("%v: %d bytes", s, buf.Len())
		}
		got, v, err := ReadStatus(&buf)
		if err != nil || got != s || s.HasValue() && v != -42 {
			t.Fatalf("%v: read %v %d %v", s, got, v, err)
		}
	}
	if _, _, err := ReadStatus(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("no reply: %v, want io.EOF (an original sink)", err)
	}
	if _, _, err := ReadStatus(bytes.NewReader([]byte{2, 0, 0})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut value: %v", err)
	}
	if _, _, err := ReadStatus(bytes.NewReader([]byte{7})); err == nil {
		t.Error("unknown status accepted")
	}
	for err, want := range map[error]Status{
		ErrDecrypt: StatusUnverified, ErrUnsigned: StatusUnverified, ErrSignature: StatusUnverified,
		ErrMalformed: StatusMalformed, ErrChunkSize: StatusMalformed, ErrFrameSize: StatusMalformed,
		fmt.Errorf("wrapped: %w", ErrDrift): StatusDrift, ErrCounter: StatusCounter,
		errors.New("disk full"): StatusUnavailable, nil: StatusAccepted,
	} {
		if got := statusOf(err); got != want {
			t.Errorf("statusOf(%v) = %v, want %v", err, got, want)
		}
	}
	if Reason(fmt.Errorf("x: %w", ErrChunkSize)) != "chunk-size" || Reason(errors.New("x")) != "other" {
		t.Error("Reason")
	}
}

// TPM 2.0 chips sign PSS with the largest salt their key allows; a protocol
// 2 packet signed that way must verify (PROTOCOL.md: any salt length).
func TestProtocol2AnySaltLength(t *testing.T) {
	k := testKey(t, 2048)
	sink := testSink(t)
	p := testPacket(t, 5)
	der, err := p.marshalDER()
	if err != nil {
		t.Fatal(err)
	}
	for _, salt := range []int{rsa.PSSSaltLengthAuto, rsa.PSSSaltLengthEqualsHash, 0, 64} {
		sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digestV2(sink.Public(), der), &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		signed, err := marshalSigned(der, sig)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := sealBox(rand.Reader, signed, sink.Public())
		if err != nil {
			t.Fatal(err)
		}
		op, err := openWith(sink, payload, []Signer{{Key: &k.PublicKey}})
		if err != nil || op.Protocol != Protocol2 || op.Packet.Counter != 5 {
			t.Fatalf("salt %d: %+v, %v; want a protocol 2 packet", salt, op, err)
		}
	}
}

// A protocol 1 packet from a signer not marked Legacy is refused with a
// LegacyError naming the signer. The hint costs one verification: it tries
// the first non-legacy signer whose key size matches the signature only.
func TestLegacyHint(t *testing.T) {
	k1, k2 := testKey(t, 2048), testKey(t, 3072)
	k3, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	sink := testSink(t)
	payload, err := Seal(rand.Reader, testPacket(t, 2), Protocol1, k2, sink.Public())
	if err != nil {
		t.Fatal(err)
	}
	_, err = openWith(sink, payload, []Signer{{Key: &k1.PublicKey}, {Key: &k2.PublicKey}})
	var le *LegacyError
	if !errors.As(err, &le) || le.Signer != 1 || !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v, want a LegacyError for signer 1 wrapping ErrSignature", err)
	}
	// The second signer of the same size is not tried for the hint.
	_, err = openWith(sink, payload, []Signer{{Key: &k3.PublicKey}, {Key: &k2.PublicKey}})
	if !errors.Is(err, ErrSignature) || errors.As(err, &le) {
		t.Fatalf("err = %v, want a plain ErrSignature", err)
	}
	// Marked Legacy, the same packet opens.
	op, err := openWith(sink, payload, []Signer{{Key: &k1.PublicKey}, {Key: &k2.PublicKey, Legacy: true}})
	if err != nil || op.Signer != 1 || op.Protocol != Protocol1 {
		t.Fatalf("legacy signer: %+v, %v", op, err)
	}
	// OpenHint with nil does not look: a plain ErrSignature. It opens what
	// Open opens.
	r := &Recipient{private: sink.private, public: sink.public, signers: []Signer{{Key: &k1.PublicKey}, {Key: &k2.PublicKey}}}
	if _, err := r.OpenHint(payload, nil); !errors.Is(err, ErrSignature) || errors.As(err, &le) {
		t.Fatalf("without hint: err = %v, want a plain ErrSignature", err)
	}
	r.signers[1].Legacy = true
	if op, err := r.OpenHint(payload, nil); err != nil || op.Signer != 1 || op.Protocol != Protocol1 {
		t.Fatalf("without hint, legacy signer: %+v, %v", op, err)
	}
}
