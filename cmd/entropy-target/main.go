// Command entropy-target writes a targets-file entry for an entropyshare
// sink, or appends one to a targets file.
package main

import (
	"os"

	"github.com/entropyshare/entropyshare/internal/cli"
)

func main() { os.Exit(cli.Execute(newCommand(), os.Args[1:], os.Stdout, os.Stderr)) }
