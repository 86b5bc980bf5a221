#!/usr/bin/env bash
# make demo: real keys, a real sink on 127.0.0.1, one real source run, and
# the pool fed. Everything lives in ./demo; nothing needs root (the sink
# feeds a file pool here; on a server it feeds the kernel).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
rm -rf demo
mkdir -p demo
cd demo

step() { printf '\n== %s\n' "$*"; }

step "keys: the board's RSA signer, the server's Curve25519 pair"
"$bin/rsagen" -s 2048 -o signer
"$bin/curve25519gen" -o sink

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 41414)

step "sink configuration (0600: it holds the sink's private key; the sink only reads it)"
"$bin/entropy-config" -a "127.0.0.1:$port" -k sink.key -s signer.pub -d 120 --pool "file:$PWD/pool.bin" -o sink.json
ls -l sink.json
config_sum=$(sha256sum sink.json)

step "sink: listening on 127.0.0.1:$port"
"$bin/entropy-sink" -f sink.json >sink.log 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.1
done

step "targets file on the board"
"$bin/entropy-target" -a "127.0.0.1:$port" -k sink.pub --name demo-sink --append targets.json
cat targets.json

step "one source run: harvest, seal, push"
"$bin/entropy-source" -k signer.key -t targets.json -s seed --verbose

step "the pool was fed"
sleep 0.2
kill -TERM $sink
wait $sink || true
trap - EXIT
cat sink.log
size=$(stat -c %s pool.bin 2>/dev/null || echo 0)
echo "pool.bin: $size bytes (one packet = 1024)"
od -A d -t x1 pool.bin | head -n 4

step "the counters: the sink's in its state file (sink.json untouched), the board's in targets.json"
"$bin/entropy-sink" status -f sink.json
ls -l sink.json sink.state
grep -E '"Counter"' targets.json
if [ "$size" -ne 1024 ]; then
	echo "demo: the pool was not fed" >&2
	exit 1
fi
if [ "$(sha256sum sink.json)" != "$config_sum" ]; then
	echo "demo: the sink wrote its configuration" >&2
	exit 1
fi
if ! "$bin/entropy-sink" status -f sink.json | grep -q '^default  *no  *1 '; then
	echo "demo: the state file does not hold counter 1" >&2
	exit 1
fi

step "the boot seed the sink kept, fed once as entropy-sink-seed.service does at boot (to a file here)"
ls -l boot-seed
"$bin/entropy-sink" seed -f sink.json --pool "file:$PWD/seed-fed.bin"
if [ "$(stat -c %s seed-fed.bin 2>/dev/null || echo 0)" -ne 64 ]; then
	echo "demo: the boot seed was not fed" >&2
	exit 1
fi
echo
echo "demo: done; files are in ./demo"
