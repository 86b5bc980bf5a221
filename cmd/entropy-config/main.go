// Command entropy-config writes a sink configuration.
package main

import (
	"os"

	"github.com/entropyshare/entropyshare/internal/cli"
)

func main() { os.Exit(cli.Execute(newCommand(), os.Args[1:], os.Stdout, os.Stderr)) }
