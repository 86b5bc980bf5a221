package main

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/entropyshare/entropyshare/source"
	"github.com/spf13/cobra"
)

const checkExitCodes = `
Exit status:
  0  everything checked is usable (warnings may have been printed)
  2  usage or configuration error: bad flag, missing or broken targets
     file, missing, broken or group/other-readable signer key, seed file
     that is group/other-readable or of the wrong size, missing plugin or
     source file`

func checkCommand(e env, hcfg *harvest.Config, seedPath *string) *cobra.Command {
	var keyPath, targetsPath string
	cmd := &cobra.Command{
		Use:   "check [-k signer.key] [-t targets.json] [-s seed] [--sources LIST]",
		Short: "Check the targets file, signer key, seed file and sources without sending",
		Long: `check validates what a run would use, sends nothing and writes nothing: the
signer key (-k: readable, not open to group or others, an RSA private
key; or a TPM key reference, checked against the TPM), the seed file if -s is given, the --sources list and the files
--plugin and --source-file name, and the targets file (-t: every entry
valid, read without the run's lock).

It prints the signer key's fingerprint and each target's sink-key
fingerprint, "SHA256:" and the hex SHA-256 of the key (PKIX DER for the
RSA key, the 32 bytes for a sink key), which is what sha256sum prints for
the raw key files: compare them with the signer.pub a sink was configured
with and the sink.pub each target was made from. Unknown fields that look
like misspelled known ones ("Protocl") are warned about.

Every problem is reported, not just the first.
` + checkExitCodes,
		Example: `  entropy-source check
  entropy-source check -k /etc/entropyshare/signer.key -t /var/lib/entropyshare/targets.json -s /var/lib/entropyshare/seed
  sha256sum signer.pub                      # on the sink: the same fingerprint`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := &checker{out: tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0), stderr: cmd.ErrOrStderr()}
			c.key(cmd, keyPath)
			c.seed(*seedPath)
			c.sources(hcfg)
			c.targets(targetsPath)
			return c.done()
		},
	}
	cmd.Flags().StringVarP(&keyPath, "key", "k", "signer.key", "RSA signer private key (mode 0600), or a TPM key reference (FILE.tpm)")
	cmd.Flags().StringVarP(&targetsPath, "targets", "t", "targets.json", "targets file")
	return cmd
}

// checker collects check's findings: a table on stdout, problems on stderr.
type checker struct {
	out      *tabwriter.Writer
	stderr   io.Writer
	problems []error
}

func (c *checker) line(what, path, result string) {
	fmt.Fprintf(c.out, "%s\t%s\t%s\n", what, path, result)
}

func (c *checker) fail(what, path string, err error) {
	c.line(what, path, "PROBLEM (below)")
	c.problems = append(c.problems, err)
}

func (c *checker) key(cmd *cobra.Command, path string) {
	k, err := loadSigner(cmd, path)
	if err != nil {
		c.fail("signer key", path, err)
		return
	}
	pub := k.Public().(*rsa.PublicKey)
	c.line("signer key", path, fmt.Sprintf("RSA-%d, %s", pub.N.BitLen(), keys.Fingerprint(pub)))
}

func (c *checker) seed(path string) {
	if path == "" {
		c.line("seed file", "-", "none (-s not given)")
		return
	}
	if err := harvest.CheckSeedFile(path); err != nil {
		c.fail("seed file", path, err)
		return
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		c.line("seed file", path, "not there yet: the first run writes it")
		return
	}
	c.line("seed file", path, "ok")
}

func (c *checker) sources(h *harvest.Config) {
	builtin := "all present"
	if len(h.Sources) > 0 {
		builtin = strings.Join(h.Sources, ", ")
	}
	if h.NoJitter {
		builtin += ", no jitter"
	}
	c.line("sources", "built-in", builtin)
	for _, list := range []struct {
		what  string
		paths []string
	}{{"plugin", h.Plugins}, {"source file", h.Files}} {
		for _, p := range list.paths {
			if _, err := os.Stat(p); err != nil {
				c.fail(list.what, p, fmt.Errorf("%s: %w", list.what, err))
				continue
			}
			c.line(list.what, p, "present")
		}
	}
}

func (c *checker) targets(path string) {
	ts, err := source.LoadTargets(path)
	if err != nil {
		c.fail("targets", path, err)
		return
	}
	n := fmt.Sprintf("%d targets", len(ts.Entries))
	if len(ts.Entries) == 1 {
		n = "1 target"
	}
	c.line("targets", path, n)
	for _, t := range ts.Entries {
		name := t.Name
		if name == "" {
			name = "-"
		}
		c.line("  "+name, t.Address, fmt.Sprintf("protocol %d, sink key %s", t.Proto(), keys.Curve25519Fingerprint((*[keys.Curve25519Size]byte)(&t.Public))))
	}
	// After the table, so that the warnings come last on a terminal.
	c.out.Flush()
	warnMisspellings(c.stderr, path, ts.Misspellings(), nil)
}

// done flushes the table and returns the exit status: the last problem
// is the command's error (with its hint); those before it are printed.
func (c *checker) done() error {
	c.out.Flush()
	if len(c.problems) == 0 {
		return nil
	}
	for _, err := range c.problems[:len(c.problems)-1] {
		fmt.Fprintf(c.stderr, "entropy-source: %v\n", err)
	}
	// Every problem check finds is one a person must fix: exit 2.
	return cli.Usage(exitError(c.problems[len(c.problems)-1]))
}
