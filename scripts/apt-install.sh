#!/usr/bin/env bash
# Installs the Debian packages given as arguments that are missing. Another
# apt or dpkg run holding the lock is waited for (up to APT_LOCK_WAIT
# seconds, default 300) rather than failed at once; any failure says which
# packages were wanted and why it stopped.
set -euo pipefail
missing=()
for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "missing Debian packages: ${missing[*]} (install them, or run as root on Debian)" >&2
	exit 1
fi
wait=${APT_LOCK_WAIT:-300}
echo "installing: ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$wait" -qq "$@" >"$log" 2>&1; }
if ! apt update || ! apt install -y "${missing[@]}"; then
	cat "$log" >&2
	if grep -q -i 'lock' "$log"; then
		echo "apt-get: another apt or dpkg process held its lock for more than ${wait}s; packages not installed: ${missing[*]}" >&2
	else
		echo "apt-get could not install: ${missing[*]}" >&2
	fi
	exit 1
fi
