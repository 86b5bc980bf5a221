// Package e2e holds the end-to-end scenarios: the real entropyshare binaries
// with keys made by the real tools, driven over loopback and over network
// namespaces, veth links, tc and nftables that the tests set up themselves.
//
// The tests are behind the build tag e2e and need root; scripts/e2e.sh
// (make e2e) installs iproute2 and nftables when missing and runs
//
//	go test -tags e2e -count=1 -v -timeout 14m ./e2e/
package e2e
