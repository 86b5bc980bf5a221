// Command entropy-source harvests local entropy and pushes signed, sealed
// packets to every entropyshare sink that is due.
package main

import (
	"os"

	"github.com/entropyshare/entropyshare/internal/cli"
)

func main() { os.Exit(cli.Execute(newCommand(defaultEnv()), os.Args[1:], os.Stdout, os.Stderr)) }
