#!/usr/bin/env bash
# Runs the benchmarks of every package once, in one go on one machine, keeps
# the raw output in bench.out and writes the table to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${BENCHTIME:-1s}
out=bench.out
# TABLE_ONLY=1 rewrites BENCHMARKS.md from the last bench.out.
if [ -z "${TABLE_ONLY:-}" ]; then
	: >"$out"
	for pkg in $(go list ./... | grep -v /internal/ | grep -v /e2e); do
		if grep -qs '^func Benchmark' "$(go list -f '{{.Dir}}' "$pkg")"/*_test.go; then
			echo "bench $pkg" >&2
			go test -run '^$' -bench . -benchmem -benchtime "$benchtime" -timeout 20m "$pkg" | tee -a "$out" >&2
		fi
	done
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
header="# Benchmarks

All rows come from one run of \`make bench\` on one machine: ${cpu:-unknown CPU}, $(nproc) cores,
$(go version | cut -d' ' -f3-4), Linux $(uname -r), $(date -u +%Y-%m-%d).
Raw output: \`bench.out\` after a run (not committed). Absolute times move from run to run;
ratios against baselines measured in the same run hold better."
go run ./internal/benchtable -rows scripts/bench-rows.txt -header "$header" <"$out" >BENCHMARKS.md
cat BENCHMARKS.md
