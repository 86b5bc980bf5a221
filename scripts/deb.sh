#!/usr/bin/env bash
# make deb: one .deb per architecture (amd64, arm64, armhf) in dist/, made
# by nfpm from packaging/nfpm.yaml, then dist/SHA256SUMS over this
# version's tarballs and .debs.
#
#   scripts/deb.sh VERSION ARCH...     (ARCH: armv7, arm64, amd64)
#
# Needs what make dist leaves: BIN/linux-ARCH/ and dist/build/docs. Each
# tree is staged by scripts/install.sh with PREFIX=/usr and Debian's zsh
# folder; the state folder is left to systemd-tmpfiles in postinst. The
# environment gives NFPM (the nfpm command), SOURCE_DATE_EPOCH and
# optionally DEB_VERSION and DEB_MAINTAINER. dist/build/debs lists the
# .debs made ("ARCH FILE" lines), for make package-test.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/deb.sh VERSION ARCH...}
shift
[ $# -gt 0 ] || { echo "deb: no architecture given" >&2; exit 2; }
: "${NFPM:?deb: set NFPM to the nfpm command (the Makefile does)}"
: "${SOURCE_DATE_EPOCH:?deb: set SOURCE_DATE_EPOCH (the Makefile does)}"
export SOURCE_DATE_EPOCH
bin=${BIN:-bin}
[ -d dist/build/docs/man1 ] || { echo "deb: dist/build/docs is missing (make dist first)" >&2; exit 1; }

# debversion turns git describe's output into a Debian version: v1.2.3 is
# 1.2.3, v1.2.3-4-gabc1234-dirty is 1.2.3+git4.gabc1234.dirty, v2.0.0-rc1
# is 2.0.0~rc1, and a tree without tags (abc1234-dirty) is
# 0~gitYYYYMMDD.abc1234.dirty, dated from SOURCE_DATE_EPOCH so that later
# commits sort later. A tag is told from a bare commit hash (which may
# begin with a digit) by its dot.
debversion() {
	local v=$1
	if [[ $v =~ ^v?[0-9]+\.[0-9] ]]; then
		v=${v#v}
		if [[ $v =~ ^[0-9.]+-[0-9]+-g ]]; then
			v="${v%%-*}+git${v#*-}" # commits after a tag sort after it
		elif [[ $v == *-* ]]; then
			v="${v%%-*}~${v#*-}" # a pre-release (v2.0.0-rc1) sorts before 2.0.0
		fi
	else
		v="0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).$v"
	fi
	printf '%s\n' "$v" | tr -c 'A-Za-z0-9.+~\n' '.'
}
export DEB_VERSION=${DEB_VERSION:-$(debversion "$version")}
export DEB_MAINTAINER=${DEB_MAINTAINER:-entropyshare maintainers <entropyshare@users.noreply.github.com>}

files=()
: >dist/build/debs
for arch in "$@"; do
	case $arch in
	armv7) export NFPM_ARCH=arm7 debarch=armhf ;;
	arm64) export NFPM_ARCH=arm64 debarch=arm64 ;;
	amd64) export NFPM_ARCH=amd64 debarch=amd64 ;;
	*) echo "deb: unknown architecture $arch" >&2; exit 2 ;;
	esac
	export STAGE=dist/build/deb-$arch
	rm -rf "$STAGE"
	DESTDIR=$STAGE PREFIX=/usr ZSHCOMPDIR=/usr/share/zsh/vendor-completions \
		scripts/install.sh "$bin/linux-$arch" dist/build/docs >/dev/null
	deb=entropyshare_${DEB_VERSION}_$debarch.deb
	rm -f "dist/$deb"
	$NFPM package --config packaging/nfpm.yaml --packager deb --target "dist/$deb" >/dev/null
	files+=("$deb")
	echo "$debarch $deb" >>dist/build/debs
done

(cd dist && sha256sum entropyshare-"$version"-linux-*.tar.gz "${files[@]}" >SHA256SUMS)
echo "deb: ${files[*]/#/dist/}"
