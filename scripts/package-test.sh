#!/usr/bin/env bash
# make package-test: checks what make dist and make deb left in dist/, then
# installs the amd64 .deb into a throwaway root with dpkg --root (maintainer
# scripts run chrootless, under DPKG_ROOT), and make install into a
# throwaway DESTDIR, and checks files, user, state folder and units in
# each. Needs root (dpkg), dpkg, systemd's sysusers, tmpfiles and analyze,
# and setpriv (util-linux); the Makefile installs them.
#
#   scripts/package-test.sh VERSION
set -Eeuo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/package-test.sh VERSION}
: "${SOURCE_DATE_EPOCH:?package-test: set SOURCE_DATE_EPOCH (the Makefile does)}"
bin=${BIN:-bin}
[ "$(id -u)" = 0 ] || { echo "package-test: needs root (dpkg --root installs files owned by root)" >&2; exit 1; }
for t in dpkg dpkg-deb dpkg-query systemd-sysusers systemd-tmpfiles systemd-analyze setpriv; do
	command -v "$t" >/dev/null || { echo "package-test: $t is missing (make package-test installs it)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Any command that fails unchecked fails the test, and says where.
trap 'echo "package-test: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
checks=0
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }
names=()
for d in cmd/*/; do names+=("$(basename "$d")"); done

# elf_machine FILE prints the ELF e_machine field: 62 x86-64, 40 ARM, 183 AArch64.
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
want_machine() { case $1 in amd64) echo 62 ;; armhf | armv7) echo 40 ;; arm64) echo 183 ;; esac; }

# 1. make dist and make deb: sums, tarball contents, architectures.
[ -s dist/SHA256SUMS ] || fail "dist/SHA256SUMS is missing or empty"
(cd dist && sha256sum --quiet -c SHA256SUMS) || fail "dist/SHA256SUMS does not verify"
ok
[ -s dist/build/debs ] || fail "dist/build/debs is missing (make deb)"
for arch in armv7 arm64 amd64; do
	tgz=dist/entropyshare-$version-linux-$arch.tar.gz
	[ -f "$tgz" ] || fail "$tgz is missing"
	grep -q " entropyshare-$version-linux-$arch.tar.gz\$" dist/SHA256SUMS || fail "SHA256SUMS lacks $tgz"
	top=entropyshare-$version-linux-$arch
	tar -tzf "$tgz" >"$work/list"
	for f in "${names[@]/#/bin/}" man/man1/entropy-sink.1 completions/bash/entropy-sink \
		completions/zsh/_entropy-sink completions/fish/entropy-sink.fish systemd/entropy-sink.service \
		systemd/entropy-sink-seed.service systemd/entropy-source.service systemd/entropy-source.timer systemd/entropy-sink-pull.service \
		systemd/entropy-sink-pull.timer sysusers.d/entropyshare.conf \
		tmpfiles.d/entropyshare.conf examples/sink.example.json examples/targets.example.json README.md; do
		grep -qx "$top/$f" "$work/list" || fail "$tgz lacks $top/$f"
	done
	grep -qx "$top/LICENSE" "$work/list" || fail "$tgz lacks LICENSE"
	tar -xzf "$tgz" -C "$work" "$top/bin/entropy-sink"
	[ "$(elf_machine "$work/$top/bin/entropy-sink")" = "$(want_machine "$arch")" ] || fail "$tgz: entropy-sink is not a $arch binary"
	ok
done
while read -r debarch deb; do
	[ "$(dpkg-deb -f "dist/$deb" Architecture)" = "$debarch" ] || fail "$deb: Architecture is not $debarch"
	case "$(dpkg-deb -f "dist/$deb" Maintainer)" in *'<'*@*'>') ;; *) fail "$deb: Maintainer has no address";; esac
	grep -q " $deb\$" dist/SHA256SUMS || fail "SHA256SUMS lacks $deb"
	dpkg-deb --fsys-tarfile "dist/$deb" | tar -xOf - ./usr/bin/entropy-sink >"$work/bin.$debarch"
	[ "$(elf_machine "$work/bin.$debarch")" = "$(want_machine "$debarch")" ] || fail "$deb: entropy-sink is not a $debarch binary"
	ok
done <dist/build/debs
# The man pages are the same bytes when made again (SOURCE_DATE_EPOCH).
for n in "${names[@]}"; do
	SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$bin/$n" __gendocs --man "$work/man1"
done
diff -r dist/build/docs/man1 "$work/man1" >/dev/null || fail "man pages differ when made again"
ok

# check_tree ROOT BINDIR ZSHDIR: what both the .deb and make install put in ROOT.
check_tree() {
	local root=$1 bindir=$2 zshdir=$3 n out
	for n in "${names[@]}"; do
		[ -f "$root$bindir/$n" ] && [ -x "$root$bindir/$n" ] || fail "$root$bindir/$n is missing or not executable"
		out=$("$root$bindir/$n" --version) || fail "$n --version failed"
		case "$out" in "$n ${version#v} (go"*", linux/amd64)") ;; *) fail "$n --version says \"$out\", want \"$n ${version#v} (go..., linux/amd64)\"";; esac
		zcat "$root/usr/share/man/man1/$n.1.gz" | grep -q "^\.TH \"${n^^}\" \"1\"" || fail "no man page $n(1)"
		grep -q "__start_$n" "$root/usr/share/bash-completion/completions/$n" || fail "no bash completion for $n"
		bash -c 'source "$1" && complete -p "$2"' _ "$root/usr/share/bash-completion/completions/$n" "$n" >/dev/null ||
			fail "the bash completion for $n registers nothing"
		head -1 "$root$zshdir/_$n" | grep -qx "#compdef $n" || fail "no zsh completion for $n in $zshdir"
		grep -q "complete -c $n " "$root/usr/share/fish/vendor_completions.d/$n.fish" || fail "no fish completion for $n"
		ok
	done
	zcat "$root/usr/share/man/man1/entropy-sink-decode.1.gz" | grep -q 'entropy-sink(1)' || fail "entropy-sink-decode(1) is missing"
	zcat "$root/usr/share/man/man1/entropy-sink-seed.1.gz" | grep -q 'RNDADDENTROPY' || fail "entropy-sink-seed(1) is missing"
	zcat "$root/usr/share/man/man1/entropy-sink-status.1.gz" | grep -q 'entropy-sink(1)' || fail "entropy-sink-status(1) is missing"
	zcat "$root/usr/share/man/man1/entropy-sink-check.1.gz" | grep -q 'entropy-sink(1)' || fail "entropy-sink-check(1) is missing"
	if zcat "$root"/usr/share/man/man1/*.gz | grep -q -e __gendocs -e 'Auto generated'; then fail "a man page mentions __gendocs or is stamped"; fi
	ok

	local units=$root/usr/lib/systemd/system
	grep -qx "ExecStart=$bindir/entropy-sink -f /etc/entropyshare/sink.json --state /var/lib/entropyshare/sink.state --log-format json" "$units/entropy-sink.service" ||
		fail "entropy-sink.service does not start $bindir/entropy-sink with the configuration in /etc and the state in /var/lib"
	# Ready when it listens (sd_notify), reloaded by SIGHUP.
	grep -qx 'Type=notify' "$units/entropy-sink.service" || fail "entropy-sink.service is not Type=notify"
	grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$units/entropy-sink.service" || fail "entropy-sink.service does not reload with SIGHUP"
	grep -qx 'RestartPreventExitStatus=2' "$units/entropy-sink.service" || fail "entropy-sink.service restarts on a configuration error"
	# The sink writes its state file only: nothing may open /etc to it.
	if grep -E '^(ReadWritePaths|BindPaths|ConfigurationDirectory)=' "$units/entropy-sink.service"; then
		fail "entropy-sink.service makes a path writable besides its state folder"
	fi
	grep -q "^ExecStart=$bindir/entropy-source " "$units/entropy-source.service" || fail "entropy-source.service does not start $bindir/entropy-source"
	[ -f "$units/entropy-source.timer" ] || fail "entropy-source.timer is missing"
	grep -q "^ExecStart=$bindir/entropy-sink pull " "$units/entropy-sink-pull.service" || fail "entropy-sink-pull.service does not start $bindir/entropy-sink pull"
	[ -f "$units/entropy-sink-pull.timer" ] || fail "entropy-sink-pull.timer is missing"
	grep -qx "ExecStart=$bindir/entropy-sink seed --seed /var/lib/entropyshare/boot-seed" "$units/entropy-sink-seed.service" ||
		fail "entropy-sink-seed.service does not start $bindir/entropy-sink seed"
	for u in entropy-sink.service entropy-sink-seed.service entropy-source.service entropy-sink-pull.service; do
		grep -qx 'User=entropyshare' "$units/$u" || fail "$u does not run as entropyshare"
		if grep -q '^DynamicUser=' "$units/$u"; then fail "$u still sets DynamicUser="; fi
	done
	for u in entropy-sink.service entropy-source.service; do
		grep -qx 'StateDirectory=entropyshare' "$units/$u" || fail "$u has no StateDirectory"
	done
	for l in CapabilityBoundingSet=CAP_SYS_ADMIN AmbientCapabilities=CAP_SYS_ADMIN NoNewPrivileges=yes ProtectSystem=strict \
		PrivateDevices=yes MemoryDenyWriteExecute=yes SystemCallFilter=@system-service; do
		grep -qx "$l" "$units/entropy-sink.service" || fail "entropy-sink.service lacks $l"
		grep -qx "$l" "$units/entropy-sink-pull.service" || fail "entropy-sink-pull.service lacks $l"
	done
	# The seed service: the sink's hardening, no network, ordered as
	# systemd-random-seed.service is, before sysinit.target.
	while read -r l; do
		grep -qxF "$l" "$units/entropy-sink-seed.service" || fail "entropy-sink-seed.service lacks the sink's $l"
	done < <(grep -E '^(User|Group|StateDirectory|UMask|Capability|Ambient|NoNew|Protect|Private|Restrict|Lock|Memory|RemoveIPC|SystemCall)' \
		"$units/entropy-sink.service" | grep -v '^RestrictAddressFamilies=')
	for l in DefaultDependencies=no PrivateNetwork=yes RestrictAddressFamilies=AF_UNIX WantedBy=sysinit.target \
		'Before=sysinit.target network-pre.target shutdown.target'; do
		grep -qx "$l" "$units/entropy-sink-seed.service" || fail "entropy-sink-seed.service lacks $l"
	done
	# verify --root would want all of systemd's units in the root; instead
	# the units are checked here with ExecStart pointed into the root, so
	# that the binaries they start are checked too.
	rm -rf "$work/verify" && mkdir "$work/verify"
	for u in entropy-sink.service entropy-sink-seed.service entropy-source.service entropy-source.timer entropy-sink-pull.service entropy-sink-pull.timer; do
		sed "s|^ExecStart=|ExecStart=$root|" "$units/$u" >"$work/verify/$u"
	done
	out=$(systemd-analyze verify --man=no "$work"/verify/* 2>&1) || fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify: $out"
	[ -f "$root/usr/lib/sysusers.d/entropyshare.conf" ] || fail "no sysusers.d/entropyshare.conf"
	[ -f "$root/usr/lib/tmpfiles.d/entropyshare.conf" ] || fail "no tmpfiles.d/entropyshare.conf"
	cmp -s README.md "$root/usr/share/doc/entropyshare/README.md" || fail "no README in /usr/share/doc/entropyshare"
	cmp -s LICENSE "$root/usr/share/doc/entropyshare/LICENSE" || fail "no LICENSE in /usr/share/doc/entropyshare"
	cmp -s sink.example.json "$root/etc/entropyshare/sink.example.json" || fail "no /etc/entropyshare/sink.example.json"
	grep -q '"State": "/var/lib/entropyshare/sink.state"' "$root/etc/entropyshare/sink.example.json" || fail "sink.example.json has no State in /var/lib/entropyshare"
	cmp -s targets.example.json "$root/etc/entropyshare/targets.example.json" || fail "no /etc/entropyshare/targets.example.json"
	ok
}

# check_user ROOT: the system user, its group, and the state folder it owns.
check_user() {
	local root=$1 line uid gid
	[ "$(grep -c '^entropyshare:' "$root/etc/passwd")" = 1 ] || fail "$root/etc/passwd has no single entropyshare line"
	line=$(grep '^entropyshare:' "$root/etc/passwd")
	IFS=: read -r _ _ uid gid _ home shell <<<"$line"
	[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "entropyshare has uid $uid, not a system uid"
	[ "$home" = /var/lib/entropyshare ] || fail "entropyshare's home is $home"
	case $shell in */nologin | /bin/false) ;; *) fail "entropyshare's shell is $shell" ;; esac
	grep -qx "entropyshare:x:$gid:" "$root/etc/group" || fail "$root/etc/group has no entropyshare group $gid"
	[ -d "$root/var/lib/entropyshare" ] || fail "no /var/lib/entropyshare"
	[ "$(stat -c '%a %u %g' "$root/var/lib/entropyshare")" = "700 $uid $gid" ] ||
		fail "/var/lib/entropyshare is $(stat -c '%a %u %g' "$root/var/lib/entropyshare"), want 700 $uid $gid"
	ok
}

# 2. The amd64 .deb in an empty root.
deb=$(awk '$1 == "amd64" { print $2 }' dist/build/debs)
[ -n "$deb" ] || fail "no amd64 .deb in dist/build/debs"
R=$work/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/etc"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
dpkgr() { dpkg --root="$R" --log="$work/dpkg.log" --force-script-chrootless --force-depends "$@"; }
dpkgr -i "dist/$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i $deb"; }
status() { dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${db:Status-Abbrev}' entropyshare 2>/dev/null || true; }
[ "$(status)" = "ii " ] || fail "entropyshare is \"$(status)\" after dpkg -i, want ii"
check_tree "$R" /usr/bin /usr/share/zsh/vendor-completions
check_user "$R"
[ "$(stat -c '%u %g' "$R/usr/bin/entropy-sink")" = "0 0" ] || fail "packaged files are not owned by root"
conffiles=$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Conffiles}' entropyshare)
for f in sink.example.json targets.example.json; do
	grep -q "/etc/entropyshare/$f " <<<"$conffiles" || fail "/etc/entropyshare/$f is not a conffile"
done
ok
# The recommended setup works: a configuration in /etc/entropyshare,
# root:entropyshare 0640, read by the entropyshare user, whose state file
# goes to /var/lib/entropyshare; the same file readable by others is
# refused (exit 2).
IFS=: read -r _ _ esuid esgid _ <<<"$(grep '^entropyshare:' "$R/etc/passwd")"
"$R/usr/bin/curve25519gen" -o "$work/sink" >/dev/null 2>&1
"$R/usr/bin/rsagen" -s 2048 -o "$work/signer" >/dev/null 2>&1
"$R/usr/bin/entropy-config" -a 127.0.0.1:4141 -k "$work/sink.key" -s "$work/signer.pub" -o "$R/etc/entropyshare/sink.json" 2>/dev/null
chown "0:$esgid" "$R/etc/entropyshare/sink.json"
chmod 0640 "$R/etc/entropyshare/sink.json"
chmod 0711 "$work" # mktemp made it 0700: the user must reach the root below it
as_sink() { setpriv --reuid="$esuid" --regid="$esgid" --clear-groups "$R/usr/bin/entropy-sink" "$@"; }
out=$(as_sink status -f "$R/etc/entropyshare/sink.json" --state "$R/var/lib/entropyshare/sink.state" 2>&1) ||
	fail "entropy-sink status as entropyshare on root:entropyshare 0640: $out"
grep -q "^default  *no  *0 " <<<"$out" || fail "entropy-sink status printed: $out"
chmod 0644 "$R/etc/entropyshare/sink.json"
code=0
out=$(as_sink status -f "$R/etc/entropyshare/sink.json" --state "$R/var/lib/entropyshare/sink.state" 2>&1) || code=$?
[ "$code" = 2 ] && grep -q "chmod 600" <<<"$out" || fail "a sink.json others can read was not refused (exit $code): $out"
chmod 0640 "$R/etc/entropyshare/sink.json"
ok

# Installing again (an upgrade's postinst) neither fails nor adds a user.
dpkgr -i "dist/$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i $deb again"; }
check_user "$R"

# Removal keeps conffiles, configuration, state and user; purge drops the
# conffiles and the links systemctl enable makes, still not the sink's
# configuration (the administrator's file) or its state.
echo state >"$R/var/lib/entropyshare/sink.state"
mkdir -p "$R/etc/systemd/system/multi-user.target.wants" "$R/etc/systemd/system/sysinit.target.wants"
ln -s /usr/lib/systemd/system/entropy-sink.service "$R/etc/systemd/system/multi-user.target.wants/entropy-sink.service"
ln -s /usr/lib/systemd/system/entropy-sink-seed.service "$R/etc/systemd/system/sysinit.target.wants/entropy-sink-seed.service"
dpkgr -r entropyshare >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg -r"; }
[ "$(status)" = "rc " ] || fail "entropyshare is \"$(status)\" after dpkg -r, want rc"
left=$( (find "$R/usr" ! -type d 2>/dev/null || true) | head -5)
[ -z "$left" ] || fail "dpkg -r left files in /usr: $left"
[ -f "$R/etc/entropyshare/sink.example.json" ] && [ -f "$R/etc/entropyshare/targets.example.json" ] || fail "dpkg -r removed a conffile"
[ -f "$R/var/lib/entropyshare/sink.state" ] || fail "dpkg -r removed the state"
[ -f "$R/etc/entropyshare/sink.json" ] || fail "dpkg -r removed the sink's configuration"
check_user "$R"
dpkgr -P entropyshare >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg -P"; }
[ -z "$(status)" ] || [ "$(status)" = "pn " ] || fail "entropyshare is \"$(status)\" after dpkg -P"
[ "$(ls -A "$R/etc/entropyshare")" = sink.json ] || fail "dpkg -P left in /etc/entropyshare: $(ls -A "$R/etc/entropyshare")"
[ ! -L "$R/etc/systemd/system/multi-user.target.wants/entropy-sink.service" ] || fail "dpkg -P left the enable link"
[ ! -L "$R/etc/systemd/system/sysinit.target.wants/entropy-sink-seed.service" ] || fail "dpkg -P left the seed service's enable link"
[ -f "$R/var/lib/entropyshare/sink.state" ] || fail "dpkg -P removed the state"
ok

# 3. make install into a DESTDIR, twice: the second keeps a changed config.
D=$work/destdir
make --no-print-directory install DESTDIR="$D" PREFIX=/usr >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; fail "make install"; }
check_tree "$D" /usr/bin /usr/share/zsh/site-functions
[ "$(stat -c %a "$D/var/lib/entropyshare")" = 700 ] || fail "make install: /var/lib/entropyshare is not mode 0700"
[ ! -e "$D/etc/passwd" ] || fail "make install with DESTDIR touched DESTDIR/etc/passwd"
echo '[]' >"$D/etc/entropyshare/targets.example.json"
make --no-print-directory install DESTDIR="$D" PREFIX=/usr >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; fail "make install again"; }
[ "$(cat "$D/etc/entropyshare/targets.example.json")" = '[]' ] || fail "make install replaced an existing config"
# Its sysusers.d and tmpfiles.d files make the user and the state folder.
systemd-sysusers --root="$D" entropyshare.conf >/dev/null 2>&1 || fail "systemd-sysusers on make install's file"
systemd-tmpfiles --root="$D" --create entropyshare.conf || fail "systemd-tmpfiles on make install's file"
check_user "$D"
# The default PREFIX is /usr/local, and the units follow it.
D2=$work/destdir2
make --no-print-directory install DESTDIR="$D2" >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; fail "make install (PREFIX /usr/local)"; }
[ -x "$D2/usr/local/bin/entropy-sink" ] || fail "make install: no /usr/local/bin/entropy-sink"
grep -q '^ExecStart=/usr/local/bin/entropy-sink ' "$D2/usr/local/lib/systemd/system/entropy-sink.service" ||
	fail "make install: entropy-sink.service does not start /usr/local/bin/entropy-sink"
[ -f "$D2/usr/local/share/man/man1/entropy-sink.1.gz" ] || fail "make install: no man page under /usr/local"
ok

echo "package-test: $checks passed, 0 failed"
