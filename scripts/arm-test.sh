#!/usr/bin/env bash
# make arm-test: the linux/arm (GOARM=7) binaries under qemu-user, as on a
# BeagleBone Black. The ARM source lists its sources, harvests, and pushes a
# packet to an amd64 sink on loopback; then the ARM sink accepts one from the
# amd64 source through the kernel pool, where qemu-user does not implement
# RNDADDENTROPY: the /dev/random fallback must carry it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
arm=$bin/linux-armv7
if ! command -v qemu-arm-static >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static) >/dev/null
	else
		echo "arm-test: qemu-user-static is missing (install it, or run as root)" >&2
		exit 1
	fi
fi
qemu=qemu-arm-static
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
fail() { echo "arm-test: FAIL: $*" >&2; for f in *.log; do echo "--- $f"; cat "$f"; done >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$bin/rsagen" -s 2048 -o signer 2>/dev/null
"$bin/curve25519gen" -o sink 2>/dev/null

# 1. ARM source: sources table and generator output.
$qemu "$arm/entropy-source" sources >sources.log 2>&1 || fail "ARM entropy-source sources"
grep -q '^kernel *ok' sources.log || fail "ARM sources table has no healthy kernel source"
n=$($qemu "$arm/entropy-source" harvest -n 4096 | wc -c)
[ "$n" = 4096 ] || fail "ARM harvest gave $n bytes, want 4096"

# 2. ARM source -> amd64 sink (file pool).
p1=$(port)
"$bin/entropy-config" -a "127.0.0.1:$p1" -k sink.key -s signer.pub --pool "file:$work/pool1" -o sink1.json 2>/dev/null
"$bin/entropy-sink" -f sink1.json >sink1.log 2>&1 &
pids+=($!)
wait_port "$p1" || fail "amd64 sink did not listen"
"$bin/entropy-target" -a "127.0.0.1:$p1" -k sink.pub --append t1.json 2>/dev/null
$qemu "$arm/entropy-source" -k signer.key -t t1.json -s seed -v >src1.log 2>&1 || fail "ARM source run"
sleep 0.3
[ "$(stat -c %s pool1 2>/dev/null || echo 0)" = 1024 ] || fail "amd64 sink pool did not grow by 1024 bytes"

# 3. amd64 source -> ARM sink (kernel pool: the ioctl is ENOSYS under qemu).
p2=$(port)
"$bin/entropy-config" -a "127.0.0.1:$p2" -k sink.key -s signer.pub -o sink2.json 2>/dev/null
$qemu "$arm/entropy-sink" -f sink2.json >sink2.log 2>&1 &
pids+=($!)
wait_port "$p2" || fail "ARM sink did not listen"
"$bin/entropy-target" -a "127.0.0.1:$p2" -k sink.pub --append t2.json 2>/dev/null
"$bin/entropy-source" -k signer.key -t t2.json -v >src2.log 2>&1 || fail "amd64 source run to the ARM sink"
sleep 0.3
grep -q 'msg=accepted' sink2.log || fail "ARM sink accepted nothing"
grep -q '/dev/random' sink2.log || fail "ARM sink did not report the /dev/random fallback"
grep -q '"Counter": 1' sink2.json || fail "ARM sink counter not stored"
echo "arm-test: ok: ARM source harvested and delivered to an amd64 sink; ARM sink accepted one packet via the /dev/random fallback"
