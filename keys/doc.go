// Package keys generates, parses and stores entropyshare's RSA signer keys
// and Curve25519 sink keys.
//
// Every key reads from any of the formats in PROTOCOL.md: raw bytes (PKCS#1
// or PKIX DER for RSA, 32 bytes for Curve25519), PEM, or the base64 text of
// the raw bytes, as the configuration files carry them. Private key files
// are written with O_CREATE|O_EXCL and mode 0600 and refused on load when
// group or others can read them.
package keys
