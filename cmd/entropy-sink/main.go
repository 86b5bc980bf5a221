// Command entropy-sink receives signed entropy packets and feeds them to
// the kernel's pool.
package main

import (
	"os"

	"github.com/entropyshare/entropyshare/internal/cli"
)

func main() { os.Exit(cli.Execute(newCommand(defaultEnv()), os.Args[1:], os.Stdout, os.Stderr)) }
