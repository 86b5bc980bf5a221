#!/usr/bin/env bash
# make dist: one tarball per architecture, dist/entropyshare-VERSION-linux-ARCH.tar.gz,
# and dist/SHA256SUMS. Each tarball holds one folder:
#
#   bin/                     the six static binaries
#   man/man1/                man pages
#   completions/{bash,zsh,fish}/
#   systemd/                 units (ExecStart in /usr/local/bin), sysusers.d/, tmpfiles.d/
#   examples/                sink.example.json, targets.example.json
#   README.md, LICENSE
#
#   scripts/dist.sh VERSION ARCH...
#
# The Makefile has built BIN/linux-ARCH/ for each ARCH, and BIN/ for this
# machine: man pages and completions do not depend on the architecture and
# are made once, by running the binaries in BIN/ (into dist/build/docs,
# which make deb uses too). SOURCE_DATE_EPOCH dates the man pages and every
# file in the tarballs, so a rebuild of one commit gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

version=${1:?usage: scripts/dist.sh VERSION ARCH...}
shift
[ $# -gt 0 ] || { echo "dist: no architecture given" >&2; exit 2; }
: "${SOURCE_DATE_EPOCH:?dist: set SOURCE_DATE_EPOCH (the Makefile does)}"
export SOURCE_DATE_EPOCH
bin=${BIN:-bin}
build=dist/build

names=()
for d in cmd/*/; do names+=("$(basename "$d")"); done

rm -rf "$build/docs"
for n in "${names[@]}"; do
	"$bin/$n" __gendocs --man "$build/docs/man1" --completions "$build/docs/completions"
done

tarballs=()
for arch in "$@"; do
	name=entropyshare-$version-linux-$arch
	stage=$build/$name
	rm -rf "$stage"
	mkdir -p "$stage/bin" "$stage/man" "$stage/systemd" "$stage/examples"
	for n in "${names[@]}"; do
		[ -x "$bin/linux-$arch/$n" ] || { echo "dist: $bin/linux-$arch/$n is missing" >&2; exit 1; }
		install -m 0755 "$bin/linux-$arch/$n" "$stage/bin/$n"
	done
	cp -R "$build/docs/man1" "$stage/man/man1"
	cp -R "$build/docs/completions" "$stage/completions"
	install -m 0644 dist/systemd/* "$stage/systemd/"
	cp -R dist/sysusers.d dist/tmpfiles.d "$stage/"
	install -m 0644 sink.example.json targets.example.json "$stage/examples/"
	install -m 0644 README.md "$stage/"
	install -m 0644 LICENSE "$stage/"
	chmod -R u=rwX,go=rX "$stage"
	chmod 0755 "$stage"/bin/*
	tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
		--mtime="@$SOURCE_DATE_EPOCH" -C "$build" -cf - "$name" | gzip -9n >"dist/$name.tar.gz"
	tarballs+=("$name.tar.gz")
done

# make deb rewrites SHA256SUMS with its .debs added.
(cd dist && sha256sum "${tarballs[@]}" >SHA256SUMS)
echo "dist: ${tarballs[*]/#/dist/} dist/SHA256SUMS"
