//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// nsPrefix names every network namespace these tests make, so that a run
// can remove what an interrupted run left behind.
const nsPrefix = "es2e-"

// cleanStaleNetns deletes namespaces with nsPrefix.
func cleanStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if strings.HasPrefix(name, nsPrefix) {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this scenario needs root (network namespaces, tc, nft): run scripts/e2e.sh as root")
	}
	for _, tool := range []string{"ip", "tc", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: scripts/e2e.sh installs iproute2 and nftables", tool)
		}
	}
}

// sh runs a command and fails the test unless it succeeds.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lan is a set of hosts, each in its own namespace, joined by a bridge in
// a hub namespace. Host i has address 10.77.0.(10+i) on its eth0; the
// hub-side end of its link is h<i>.
type lan struct {
	hub   string
	hosts []string
	addrs []string
}

func newLAN(t *testing.T, n int) *lan {
	t.Helper()
	requireRoot(t)
	l := &lan{hub: nsPrefix + "hub"}
	for i := range n {
		l.hosts = append(l.hosts, fmt.Sprintf("%sh%d", nsPrefix, i))
		l.addrs = append(l.addrs, fmt.Sprintf("10.77.0.%d", 10+i))
	}
	for _, ns := range append([]string{l.hub}, l.hosts...) {
		exec.Command("ip", "netns", "del", ns).Run()
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", l.hub, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", l.hub, "link", "set", "br0", "up")
	for i, ns := range l.hosts {
		hv := fmt.Sprintf("h%d", i)
		sh(t, "ip", "-n", l.hub, "link", "add", hv, "type", "veth", "peer", "name", "eth0", "netns", ns)
		sh(t, "ip", "-n", l.hub, "link", "set", hv, "master", "br0", "up")
		sh(t, "ip", "-n", ns, "addr", "add", l.addrs[i]+"/24", "dev", "eth0")
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	}
	// Every host knows every other's link address from the start: ARP
	// would cross the shaped link too, and an ARP exchange that fails
	// there makes connect fail at once (EHOSTUNREACH), which is not the
	// hotspot's behaviour (a board resolves only its gateway, once).
	macs := make([]string, len(l.hosts))
	for i, ns := range l.hosts {
		macs[i] = strings.TrimSpace(sh(t, "ip", "netns", "exec", ns, "cat", "/sys/class/net/eth0/address"))
	}
	for i, ns := range l.hosts {
		for j := range l.hosts {
			if i != j {
				sh(t, "ip", "-n", ns, "neigh", "replace", l.addrs[j], "lladdr", macs[j], "dev", "eth0", "nud", "permanent")
			}
		}
	}
	return l
}

// shape limits host i's link to rate (tc syntax, e.g. "2400bit") in both
// directions with a token bucket of burst bytes, and drops lossPct percent
// of its packets each way with nftables.
func (l *lan) shape(t *testing.T, i int, rate string, burst, lossPct int) {
	t.Helper()
	b := strconv.Itoa(burst)
	// The queue holds 6000 bytes each way: four full-size packets (a frame
	// for each of three sinks and the small packets around them), 20 s at
	// 300 B/s. A deeper one is no truer to a hotspot, whose queue holds a
	// few seconds at its own rate, and at this rate it fills with TCP's
	// retransmissions: in a 100 s queue a SYN can wait more than 90 s.
	const limit = "6000"
	sh(t, "ip", "netns", "exec", l.hosts[i], "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate, "burst", b, "limit", limit)
	sh(t, "ip", "netns", "exec", l.hub, "tc", "qdisc", "add", "dev", fmt.Sprintf("h%d", i), "root", "tbf", "rate", rate, "burst", b, "limit", limit)
	if lossPct > 0 {
		rules := fmt.Sprintf(`table inet es {
	chain in { type filter hook input priority 0; numgen random mod 100 < %d counter drop; }
	chain out { type filter hook output priority 0; numgen random mod 100 < %d counter drop; }
}
`, lossPct, lossPct)
		cmd := exec.Command("ip", "netns", "exec", l.hosts[i], "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
	}
}

// forgetTCP empties every host's TCP metrics cache: the round-trip times
// Linux keeps for an hour per destination, from which a new connection's
// first retransmission timeout is set (three times the cached time). A
// board's runs are hours apart, so each of its runs starts without them;
// runs seconds apart on a slow link would otherwise wait tens of seconds
// for a first segment lost.
func (l *lan) forgetTCP(t *testing.T) {
	t.Helper()
	for _, h := range l.hosts {
		sh(t, "ip", "-n", h, "tcp_metrics", "flush", "all")
	}
}

// ifaceBytes returns host i's eth0 tx and rx byte counters.
func (l *lan) ifaceBytes(t *testing.T, i int) (tx, rx int64) {
	t.Helper()
	read := func(which string) int64 {
		out := sh(t, "ip", "netns", "exec", l.hosts[i], "cat", "/sys/class/net/eth0/statistics/"+which)
		n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return read("tx_bytes"), read("rx_bytes")
}

var nftCounter = regexp.MustCompile(`counter packets (\d+) bytes (\d+)`)

// dropped returns the packets nftables dropped on host i, in and out.
func (l *lan) dropped(t *testing.T, i int) (packets int64) {
	t.Helper()
	out := sh(t, "ip", "netns", "exec", l.hosts[i], "nft", "list", "table", "inet", "es")
	for _, m := range nftCounter.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		packets += n
	}
	return packets
}

// countPeers counts host i's IP bytes to and from each of addrs with
// nftables: what leaves after the loss rule drops its share, what arrives
// before it does, so both are what crossed the link.
func (l *lan) countPeers(t *testing.T, i int, addrs []string) {
	t.Helper()
	var in, out strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&in, "ip saddr %s counter; ", a)
		fmt.Fprintf(&out, "ip daddr %s counter; ", a)
	}
	rules := fmt.Sprintf(`table inet espeers {
	chain in { type filter hook input priority -10; %s}
	chain out { type filter hook output priority 10; %s}
}
`, in.String(), out.String())
	cmd := exec.Command("ip", "netns", "exec", l.hosts[i], "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

var peerCounter = regexp.MustCompile(`ip (saddr|daddr) (\S+) counter packets (\d+) bytes (\d+)`)

// peerBytes returns the IP bytes host i exchanged with each address
// countPeers counts, both ways together.
func (l *lan) peerBytes(t *testing.T, i int) map[string]int64 {
	t.Helper()
	out := sh(t, "ip", "netns", "exec", l.hosts[i], "nft", "list", "table", "inet", "espeers")
	m := map[string]int64{}
	for _, f := range peerCounter.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(f[4], 10, 64)
		m[f[2]] += n
	}
	return m
}
