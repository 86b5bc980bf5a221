#!/usr/bin/env bash
# make e2e: the end-to-end scenarios of ./e2e with the real binaries, real
# keys, network namespaces, tc and nftables. Needs root (namespaces, tc,
# nft); installs iproute2 and nftables with apt-get when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "e2e: needs root (network namespaces, tc, nftables)" >&2
	exit 1
fi

scripts/apt-install.sh iproute2 nftables

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
go test -tags e2e -count=1 -v -timeout 14m ./e2e/ 2>&1 | tee "$log" || status=$?

echo
echo "== e2e results ($(( $(date +%s) - start ))s)"
grep -E '^RESULT ' "$log" || echo "(no scenario printed a result)"
grep -E '^--- (PASS|FAIL|SKIP)' "$log" || true
exit "$status"
