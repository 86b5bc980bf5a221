#!/usr/bin/env bash
# make install: the binaries, systemd units, sysusers.d and tmpfiles.d
# files, man pages, shell completions, README and example configurations,
# under DESTDIR and PREFIX. make deb stages its trees with it.
#
#   scripts/install.sh BIN [DOCS]
#
# BIN holds the binaries. DOCS holds man1/ and completions/ as
# "NAME __gendocs" writes them; without it they are made by running the
# binaries in BIN, which must then run here.
#
# The environment gives DESTDIR (default empty), PREFIX (default
# /usr/local) and, to move one kind of file, BINDIR, MANDIR, UNITDIR,
# SYSUSERSDIR, TMPFILESDIR, BASHCOMPDIR, ZSHCOMPDIR, FISHCOMPDIR and DOCDIR
# (defaults below). Configuration goes to /etc/entropyshare and state to
# /var/lib/entropyshare whatever PREFIX is: the units name those paths.
#
# An existing file in /etc/entropyshare is never replaced. When DESTDIR is
# empty (an install on this machine, as root), the entropyshare user and the
# state folder are made with systemd-sysusers and systemd-tmpfiles, as the
# .deb's postinst does. Nothing is enabled or started.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

bin=${1:?usage: scripts/install.sh BIN [DOCS]}
docs=${2:-}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}
TMPFILESDIR=${TMPFILESDIR:-$PREFIX/lib/tmpfiles.d}
BASHCOMPDIR=${BASHCOMPDIR:-$PREFIX/share/bash-completion/completions}
ZSHCOMPDIR=${ZSHCOMPDIR:-$PREFIX/share/zsh/site-functions}
FISHCOMPDIR=${FISHCOMPDIR:-$PREFIX/share/fish/vendor_completions.d}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/entropyshare}
CONFDIR=/etc/entropyshare
STATEDIR=/var/lib/entropyshare

names=()
for d in cmd/*/; do names+=("$(basename "$d")"); done
for n in "${names[@]}"; do
	[ -x "$bin/$n" ] || { echo "install: $bin/$n is missing (make build first)" >&2; exit 1; }
done

if [ -z "$docs" ]; then
	docs=$(mktemp -d)
	trap 'rm -rf "$docs"' EXIT
	for n in "${names[@]}"; do
		"$bin/$n" __gendocs --man "$docs/man1" --completions "$docs/completions"
	done
fi

d=$DESTDIR
install -d "$d$BINDIR" "$d$MANDIR/man1" "$d$UNITDIR" "$d$SYSUSERSDIR" "$d$TMPFILESDIR" \
	"$d$BASHCOMPDIR" "$d$ZSHCOMPDIR" "$d$FISHCOMPDIR" "$d$DOCDIR" "$d$CONFDIR"
install -d -m 0700 "$d$STATEDIR"

for n in "${names[@]}"; do
	install -m 0755 "$bin/$n" "$d$BINDIR/$n"
	install -m 0644 "$docs/completions/bash/$n" "$d$BASHCOMPDIR/$n"
	install -m 0644 "$docs/completions/zsh/_$n" "$d$ZSHCOMPDIR/_$n"
	install -m 0644 "$docs/completions/fish/$n.fish" "$d$FISHCOMPDIR/$n.fish"
done
for page in "$docs"/man1/*.1; do
	gzip -9n <"$page" >"$d$MANDIR/man1/$(basename "$page").gz"
	chmod 0644 "$d$MANDIR/man1/$(basename "$page").gz"
done

# The units name /usr/local/bin; point ExecStart at BINDIR.
for u in dist/systemd/*; do
	sed "/^ExecStart=/s|/usr/local/bin/|$BINDIR/|" "$u" >"$d$UNITDIR/$(basename "$u")"
	chmod 0644 "$d$UNITDIR/$(basename "$u")"
done
install -m 0644 dist/sysusers.d/entropyshare.conf "$d$SYSUSERSDIR/entropyshare.conf"
install -m 0644 dist/tmpfiles.d/entropyshare.conf "$d$TMPFILESDIR/entropyshare.conf"
install -m 0644 README.md "$d$DOCDIR/README.md"
install -m 0644 LICENSE "$d$DOCDIR/LICENSE"

for f in sink.example.json targets.example.json; do
	if [ -e "$d$CONFDIR/$f" ]; then
		echo "install: keeping the existing $d$CONFDIR/$f"
	else
		install -m 0644 "$f" "$d$CONFDIR/$f"
	fi
done

if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
	if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
		systemd-sysusers "$SYSUSERSDIR/entropyshare.conf"
		systemd-tmpfiles --create "$TMPFILESDIR/entropyshare.conf"
	else
		echo "install: no systemd-sysusers here: create the user entropyshare and give it $STATEDIR yourself" >&2
	fi
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	echo "install: done; nothing was enabled or started (see the comments in $UNITDIR/entropy-sink.service)"
fi
