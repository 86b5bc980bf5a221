// Command gojitter is an example entropyshare plugin: it writes raw CPU
// timing jitter samples (the low 8 bits of the duration of a short memory
// walk, in nanoseconds) to standard output. Samples are raw, not hashed,
// so the host's health tests see the noise source itself.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o gojitter.wasm ./plugins/gojitter
//
// It follows the plugin ABI in plugins/README.md: the byte count comes as
// argv[1] (or ENTROPY_BYTES), and exactly that many bytes go to stdout.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const maxBytes = 1 << 20

func main() {
	arg := os.Getenv("ENTROPY_BYTES")
	if len(os.Args) > 1 {
		arg = os.Args[1]
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > maxBytes {
		fmt.Fprintf(os.Stderr, "gojitter: want a byte count from 0 to %d as argv[1], got %q\n", maxBytes, arg)
		os.Exit(2)
	}
	out := make([]byte, n)
	var mem [1024]uint64
	x := uint64(0x9e3779b97f4a7c15)
	for i := range out {
		t0 := time.Now()
		for range 32 {
			j := x % uint64(len(mem))
			mem[j] += x
			x = x*6364136223846793005 + mem[(j*7+1)%uint64(len(mem))] + 1
		}
		out[i] = byte(time.Since(t0).Nanoseconds())
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "gojitter:", err)
		os.Exit(1)
	}
}
