#!/bin/sh
# Build the noarch .rpm from an sdist of this checkout with rpmbuild -bb (Debian's rpm package works).
# Usage: sh packaging/build-rpm.sh OUTDIR
set -eu
# Debian's own python3 (with python3-build, -sh, -distro) makes the sdist and the man page
PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist" "$work/src" && (cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
(cd "$work/src" && python3 -m build --sdist --no-isolation --outdir "$work/dist" >"$work/sdist.log" 2>&1) || { tail -30 "$work/sdist.log"; exit 1; }
mkdir -p "$work/rpm/SOURCES"
cp "$work"/dist/imsprep-*.tar.gz "$work/rpm/SOURCES/"
rpmbuild -bb --define "_topdir $work/rpm" "$top/packaging/rpm/imsprep.spec" >"$work/rpm.log" 2>&1 || { tail -40 "$work/rpm.log"; exit 1; }
cp "$work"/rpm/RPMS/noarch/imsprep-*.rpm "$out/"
ls "$out"/imsprep-*.rpm
