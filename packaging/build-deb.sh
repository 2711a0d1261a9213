#!/bin/sh
# Build the .deb from this checkout: packaging/debian becomes debian/ in a scratch copy.
# Usage: sh packaging/build-deb.sh OUTDIR
set -eu
# Debian's own python3 and build tools are used, whatever python comes first in PATH
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/imsprep-0.1.0"
(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$work/imsprep-0.1.0")
cp -r "$top/packaging/debian" "$work/imsprep-0.1.0/debian"
(cd "$work/imsprep-0.1.0" && PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || { tail -50 "$work/build.log"; exit 1; }
cp "$work"/imsprep_*.deb "$out/"
ls "$out"/imsprep_*.deb
