// Command curve25519gen makes the Curve25519 key pair a sink opens packets with.
package main

import (
	"os"

	"github.com/entropyshare/entropyshare/internal/cli"
)

func main() { os.Exit(cli.Execute(newCommand(), os.Args[1:], os.Stdout, os.Stderr)) }
