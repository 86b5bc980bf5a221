//go:build tools

package tools

import (
	_ "github.com/google/renameio/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/tetratelabs/wazero"
	_ "golang.org/x/crypto/nacl/box"
	_ "golang.org/x/sys/unix"
	_ "lukechampine.com/blake3"
	_ "periph.io/x/conn/v3"
	_ "periph.io/x/host/v3"
)
