// Package harvest gathers, health-tests and mixes local entropy and seeds a ChaCha20 generator.
package harvest
