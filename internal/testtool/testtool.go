// Package testtool holds what tests in several packages share: finding the
// external programs they run (rngtest, curl, openssl, ...), free ports and
// reading slog text lines.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of the program name. When it is not installed
// the test is skipped, unless ENTROPYSHARE_TOOLS=required (the Makefile's
// setting, with the Debian packages in its DEB_PKGS), when it fails.
func Require(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ENTROPYSHARE_TOOLS") == "required" {
			tb.Fatalf("%s is required (ENTROPYSHARE_TOOLS=required) but not installed: %v", name, err)
		}
		tb.Skipf("%s not installed (set ENTROPYSHARE_TOOLS=required to fail instead)", name)
	}
	return p
}
