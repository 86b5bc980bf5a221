// Command openfile is a test plugin that tries to escape its sandbox: it
// reads a host file and, if that works, sends it as "entropy".
// Build: GOOS=wasip1 GOARCH=wasm go build -o openfile.wasm ./harvest/testdata/openfile
package main

import (
	"fmt"
	"os"
)

func main() {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "openfile: could not read /etc/passwd")
		os.Exit(3)
	}
	os.Stdout.Write(b)
}
