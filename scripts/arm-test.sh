#!/usr/bin/env bash
# make arm-test: the linux/arm (GOARM=7) binaries under qemu-user, as on a
# BeagleBone Black. The ARM source lists its sources, harvests, and pushes a
# packet to an amd64 sink on loopback, then another signed by a key the
# ARM rsagen made in swtpm (a software TPM 2.0); then the ARM sink accepts
# one from the amd64 source through the kernel pool, where qemu-user does
# not implement RNDADDENTROPY: the /dev/random fallback must carry it. Last, it prints
# what each shipped WASM plugin adds to a harvest under wazero's
# interpreter (32-bit ARM has no compiler), one line per plugin: printed,
# never judged; only a plugin run that fails fails the test.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=$PWD/bin
arm=$bin/linux-armv7
# need CMD PKG: install Debian package PKG when CMD is missing (as root).
need() {
	command -v "$1" >/dev/null && return 0
	"$repo/scripts/apt-install.sh" "$2"
}
need qemu-arm-static qemu-user-static || { echo "arm-test: qemu-user-static is missing (install it, or run as root)" >&2; exit 1; }
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
n=$($qemu "$arm/entropy-source" harvest --bytes 4096 | wc -c)
[ "$n" = 4096 ] || fail "ARM harvest gave $n bytes, want 4096"

# 2. ARM source -> amd64 sink (file pool).
p1=$(port)
"$bin/entropy-config" -a "127.0.0.1:$p1" -k sink.key -s signer.pub --pool "file:$work/pool1" -o sink1.json 2>/dev/null
"$bin/entropy-sink" -f sink1.json >sink1.log 2>&1 &
pids+=($!)
wait_port "$p1" || fail "amd64 sink did not listen"
"$bin/entropy-target" -a "127.0.0.1:$p1" -k sink.pub --append t1.json 2>/dev/null
$qemu "$arm/entropy-source" -k signer.key -t t1.json -s seed --verbose >src1.log 2>&1 || fail "ARM source run"
sleep 0.3
[ "$(stat -c %s pool1 2>/dev/null || echo 0)" = 1024 ] || fail "amd64 sink pool did not grow by 1024 bytes"

# 2b. The ARM rsagen makes a key in swtpm (a software TPM 2.0 on loopback,
# standing in for the board's chip) and the ARM source signs with it, to an
# amd64 sink of its own: the go-tpm code path in the static ARM binaries.
need swtpm swtpm || fail "swtpm is missing (apt-get install swtpm, or run as root)"
tp=$(port)
mkdir tpmstate
swtpm socket --tpm2 --server "type=tcp,port=$tp,bindaddr=127.0.0.1" --tpmstate dir="$work/tpmstate" \
	--flags not-need-init,startup-clear >swtpm.log 2>&1 &
pids+=($!)
wait_port "$tp" || fail "swtpm did not listen"
$qemu "$arm/rsagen" --tpm --tpm-device "tcp://127.0.0.1:$tp" -s 2048 -o tpmsigner >rsagen-tpm.log 2>&1 || fail "ARM rsagen --tpm"
pt=$(port)
"$bin/entropy-config" -a "127.0.0.1:$pt" -k sink.key -s tpmsigner.pub --pool "file:$work/pooltpm" -o sinktpm.json 2>/dev/null
"$bin/entropy-sink" -f sinktpm.json >sinktpm.log 2>&1 &
pids+=($!)
wait_port "$pt" || fail "amd64 sink for the TPM signer did not listen"
"$bin/entropy-target" -a "127.0.0.1:$pt" -k sink.pub --append ttpm.json 2>/dev/null
$qemu "$arm/entropy-source" -k tpmsigner.tpm -t ttpm.json -s seed --verbose >srctpm.log 2>&1 || fail "ARM source run signed in the TPM"
sleep 0.3
[ "$(stat -c %s pooltpm 2>/dev/null || echo 0)" = 1024 ] || fail "amd64 sink pool did not grow by 1024 bytes from the TPM-signed packet"
$qemu "$arm/entropy-source" sources --tpm-device "tcp://127.0.0.1:$tp" >sourcestpm.log 2>&1 || fail "ARM entropy-source sources with swtpm"
grep -q '^tpm  *ok' sourcestpm.log || fail "ARM sources table has no healthy tpm source"
echo "arm-test: ok: ARM rsagen made a key in swtpm; the ARM source signed with it and delivered; its tpm source is healthy"

# 3. amd64 source -> ARM sink (kernel pool: the ioctl is ENOSYS under qemu).
p2=$(port)
"$bin/entropy-config" -a "127.0.0.1:$p2" -k sink.key -s signer.pub -o sink2.json 2>/dev/null
$qemu "$arm/entropy-sink" -f sink2.json >sink2.log 2>&1 &
pids+=($!)
wait_port "$p2" || fail "ARM sink did not listen"
"$bin/entropy-target" -a "127.0.0.1:$p2" -k sink.pub --append t2.json 2>/dev/null
"$bin/entropy-source" -k signer.key -t t2.json --verbose >src2.log 2>&1 || fail "amd64 source run to the ARM sink"
sleep 0.3
grep -q 'msg=accepted' sink2.log || fail "ARM sink accepted nothing"
grep -q '/dev/random' sink2.log || fail "ARM sink did not report the /dev/random fallback"
"$bin/entropy-sink" status -f sink2.json | grep -q '^default  *no  *1 ' || fail "ARM sink counter not stored (entropy-sink status)"
echo "arm-test: ok: ARM source harvested and delivered to an amd64 sink; ARM sink accepted one packet via the /dev/random fallback"

# 4. Plugin cost: `entropy-source sources` with and without each shipped
# plugin, ARM under qemu-user and amd64 natively, runs interleaved, the
# median of $reps. No compilation cache: wazero caches only its compiler's
# output, so on the board every run compiles anyway. qemu-user emulates:
# these are not board times (see docs/BOARD.md).
reps=${ARM_TEST_PLUGIN_REPS:-5}
plugins=()
if need wat2wasm wabt; then
	wat2wasm "$repo/plugins/tiny/tiny.wat" -o tiny.wasm || fail "wat2wasm plugins/tiny/tiny.wat"
	plugins+=(tiny)
else
	echo "arm-test: plugin tiny: skipped, wat2wasm is missing (apt-get install wabt)"
fi
(cd "$repo" && GOOS=wasip1 GOARCH=wasm ${GO:-go} build -trimpath -o "$work/gojitter.wasm" ./plugins/gojitter) >gojitter-build.log 2>&1 ||
	fail "GOOS=wasip1 go build ./plugins/gojitter"
plugins+=(gojitter)
# plugin_cost NAME REPS CMD...: runs CMD sources without and with the
# plugin, alternately; prints what the plugin adds to the median wall and
# CPU (user+sys) time, both medians, and the plugin's own row note (its
# compile and run time); fails when a run exits non-zero or the plugin's
# row is not ok.
plugin_cost() {
	python3 - "$@" <<'PY'
import resource, statistics, subprocess, sys, time
name, reps, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def run(args, log):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd + ["sources", "--wasm-cache", "off"] + args, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "a") as f:
        f.write(p.stdout + p.stderr)
    if p.returncode != 0:
        sys.exit(f"exit {p.returncode}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall * 1000, cpu * 1000, p.stdout
base, plug, note = [], [], ""
for _ in range(reps):
    base.append(run([], f"plugin-{name}-base.log")[:2])
    w, c, out = run(["--plugin", f"{name}.wasm"], f"plugin-{name}.log")
    row = [l.split() for l in out.splitlines() if l.startswith(f"plugin:{name} ")]
    if not row or row[0][1] != "ok":
        sys.exit("plugin row: " + (" ".join(row[0]) if row else "missing"))
    plug.append((w, c))
    note = " ".join(row[0][7:])
bw, bc, pw, pc = (statistics.median(x[i] for x in xs) for xs, i in ((base, 0), (base, 1), (plug, 0), (plug, 1)))
print(f"{pw - bw:+.0f} ms wall, {pc - bc:+.0f} ms CPU ({pw:.0f} vs {bw:.0f} ms; {note})")
PY
}
for p in "${plugins[@]}"; do
	onarm=$(plugin_cost "$p" "$reps" $qemu "$arm/entropy-source") || fail "ARM entropy-source with plugin $p (see plugin-$p.log)"
	native=$(plugin_cost "$p" "$reps" "$bin/entropy-source") || fail "amd64 entropy-source with plugin $p (see plugin-$p.log)"
	echo "arm-test: plugin $p ($(stat -c %s "$p.wasm") B), median of $reps, no cache: qemu-arm $onarm; amd64 $native (qemu-user emulates: not board times)"
done
