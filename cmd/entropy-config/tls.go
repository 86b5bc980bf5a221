package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/entropyshare/entropyshare/internal/cli"
	"github.com/entropyshare/entropyshare/internal/tlsca"
	"github.com/entropyshare/entropyshare/keys"
	"github.com/spf13/cobra"
)

const tlsExitCodes = `
Exit status: 0 on success, 1 on failure (the CA unreadable, too open or not
a CA; an output file that exists), 2 on a usage error.`

func newTLSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make the certificates of a sink's HTTPS listener and its clients",
		Long: `The tls commands make a small certificate authority and the certificates a
sink's optional HTTPS listener and its clients present (ECDSA P-256).

A sink's HTTPS listener presents a server certificate and accepts only
clients whose certificate chains to its ClientCA; a client's certificate
common name (--name) is the name the sink's HTTPS.Clients lists it under,
with its rights. A client trusts the CA that issued the sink's certificate.
One CA may issue both, or one for sinks and one for clients.

Each command writes BASE.crt (PEM certificate, mode 0644) and BASE.key (PEM
PKCS #8 private key, mode 0600), never over an existing file unless --force
is given. Certificates made by openssl work as well.`,
		Example: `  entropy-config tls ca -o ca
  entropy-config tls issue --ca ca --server --name sink1 --dns sink1.example.net -o sink1
  entropy-config tls issue --ca ca --client --name board1 -o board1
  entropy-config tls issue --ca ca --client --name web1`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTLSCACommand(), newTLSIssueCommand())
	return cmd
}

func newTLSCACommand() *cobra.Command {
	var (
		out, name string
		days      int
		force     bool
	)
	cmd := &cobra.Command{
		Use:   "ca [-o BASE] [--name NAME] [--days N]",
		Short: "Make a certificate authority for HTTPS certificates",
		Long: `ca makes a self-signed certificate authority: BASE.crt, which sinks (as their
ClientCA) and clients (as the CA they trust) are given, and BASE.key (mode
0600), which only entropy-config tls issue needs: keep it off the sinks.

It lasts ten years by default: replacing it means issuing every certificate
again. It can sign leaf certificates only (path length 0).
` + tlsExitCodes,
		Example: `  entropy-config tls ca -o ca
  entropy-config tls ca -o clients-ca --name "entropyshare clients" --days 1825`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if days <= 0 {
				return cli.Usagef("--days %d: want a positive number of days", days)
			}
			if err := checkOutputs(out, force); err != nil {
				return err
			}
			p, err := tlsca.NewCA(name, time.Duration(days)*24*time.Hour, time.Now())
			if err != nil {
				return cli.Usage(err)
			}
			if err := writePair(out, p, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "entropy-config: wrote the CA certificate %q to %s.crt and its key to %s.key (mode 0600)\n", name, out, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "ca", "write BASE.crt and BASE.key")
	f.StringVar(&name, "name", "entropyshare CA", "the CA's common name")
	f.IntVar(&days, "days", int(tlsca.DefaultCAValidity/(24*time.Hour)), "validity in days")
	f.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

func newTLSIssueCommand() *cobra.Command {
	var (
		caBase, name, out string
		server, client    bool
		dns               []string
		ips               []net.IP
		days              int
		force             bool
	)
	cmd := &cobra.Command{
		Use:   "issue --ca BASE (--server --dns HOST... | --client) --name NAME [-o BASE]",
		Short: "Issue a sink's server certificate or a client certificate",
		Long: `issue makes a new key and a certificate for it signed by the CA in BASE.crt
and BASE.key (--ca; openssl's CA files work too).

--server makes a sink's HTTPS certificate: give every host name (--dns) and
address (--ip) clients connect to. --client makes a client's certificate:
its common name, --name, is the name the sink's HTTPS.Clients lists it
under. The output is -o BASE, by default the name.

It lasts two years by default (--days), and never past its CA.
` + tlsExitCodes,
		Example: `  entropy-config tls issue --ca ca --server --name sink1 --dns sink1.example.net -o sink1
  entropy-config tls issue --ca ca --server --name sink1 --dns sink1.example.net --ip 192.0.2.10 --ip 2001:db8::10
  entropy-config tls issue --ca ca --client --name board1
  entropy-config tls issue --ca clients-ca --client --name web1 --days 365 -o /etc/entropyshare/pull`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var usage tlsca.Usage
			switch {
			case server && client:
				return cli.Usagef("--server and --client: give one")
			case server:
				usage = tlsca.Server
			case client:
				usage = tlsca.Client
			default:
				return cli.Usagef("say what the certificate is for: --server or --client")
			}
			if name == "" {
				return cli.Usagef("no --name (a server's or client's common name)")
			}
			if days <= 0 {
				return cli.Usagef("--days %d: want a positive number of days", days)
			}
			if out == "" {
				out = name
			}
			if err := checkOutputs(out, force); err != nil {
				return err
			}
			caBase = strings.TrimSuffix(caBase, ".crt")
			ca, err := tlsca.LoadAuthority(caBase+".crt", caBase+".key")
			if err != nil {
				switch {
				case errors.Is(err, keys.ErrPermissions):
					err = cli.Hint(err, "a private key must be readable by its owner only")
				case errors.Is(err, os.ErrNotExist):
					err = cli.Hint(err, "make a CA with 'entropy-config tls ca -o "+caBase+"'")
				}
				return err
			}
			p, err := ca.Issue(tlsca.Leaf{Name: name, Usage: usage, DNSNames: dns, IPs: ips,
				Validity: time.Duration(days) * 24 * time.Hour}, time.Now())
			if err != nil {
				return cli.Usage(err)
			}
			if err := writePair(out, p, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "entropy-config: wrote the %s certificate %q, issued by %q, to %s.crt and its key to %s.key (mode 0600)\n",
				usage, name, ca.Certificate().Subject.CommonName, out, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caBase, "ca", "ca", "the issuing CA: BASE.crt and BASE.key")
	f.BoolVar(&server, "server", false, "a sink's server certificate")
	f.BoolVar(&client, "client", false, "a client certificate")
	f.StringVar(&name, "name", "", "common name: the server's, or the client's name in the sink's HTTPS.Clients")
	f.StringSliceVar(&dns, "dns", nil, "a server's DNS name (repeat or separate with commas)")
	f.IPSliceVar(&ips, "ip", nil, "a server's IP address (repeat or separate with commas)")
	f.StringVarP(&out, "out", "o", "", "write BASE.crt and BASE.key (default: the name)")
	f.IntVar(&days, "days", int(tlsca.DefaultLeafValidity/(24*time.Hour)), "validity in days")
	f.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

// checkOutputs refuses, before any work, to write over BASE.crt or
// BASE.key unless force.
func checkOutputs(base string, force bool) error {
	if base == "" {
		return cli.Usagef("no output base name (-o)")
	}
	if force {
		return nil
	}
	for _, p := range []string{base + ".key", base + ".crt"} {
		if _, err := os.Lstat(p); err == nil {
			return cli.Hint(fmt.Errorf("%s exists", p), "use --force to replace it")
		}
	}
	return nil
}

// writePair writes the key (0600) first, then the certificate (0644); a
// new key whose certificate cannot be written is removed again.
func writePair(base string, p *tlsca.Pair, force bool) error {
	defer clear(p.Key)
	if err := keys.WriteFile(base+".key", p.Key, true, force); err != nil {
		return err
	}
	if err := keys.WriteFile(base+".crt", p.Cert, false, force); err != nil {
		if !force {
			os.Remove(base + ".key")
		}
		return err
	}
	return nil
}
