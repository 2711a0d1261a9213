#!/bin/sh
# Build the noarch .rpm, once per target, from an sdist of this checkout with rpmbuild -bb
# (Debian's rpm package works).
# Usage: sh packaging/build-rpm.sh OUTDIR [TARGET...]
#   TARGET: el7 el8 el9 openeuler (default: all four). Each is rpmbuild --define 'rhel 7' (etc.),
#   with the byte code compiled by that target's Python version (pyenv's, $PYENV_ROOT/versions).
# The pure-Python dependencies a target's base repositories lack are bundled from
# tools/pyz-requirements.txt (fetched once into $IMSPREP_PYZ_DOWNLOADS by tools/build_pyz.py).
set -eu
# Debian's own python3 (with python3-build) makes the sdist
PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
[ $# -gt 0 ] && shift
targets=${*:-el7 el8 el9 openeuler}
versions="${PYENV_ROOT:-/root/.pyenv}/versions"
downloads=${IMSPREP_PYZ_DOWNLOADS:-${IMSPREP_TEST_CACHE:-/var/tmp/imsprep-test-cache}/pyz-downloads}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist" "$work/src" && (cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$work/src")
(cd "$work/src" && python3 -m build --sdist --no-isolation --outdir "$work/dist" >"$work/sdist.log" 2>&1) || { tail -30 "$work/sdist.log"; exit 1; }
mkdir -p "$work/rpm/SOURCES" "$work/vendor-src"
cp "$work"/dist/imsprep-*.tar.gz "$work/rpm/SOURCES/"
version=$(basename "$work"/dist/imsprep-*.tar.gz .tar.gz | sed 's/^imsprep-//')
python3 "$top/tools/build_pyz.py" --vendor "$work/vendor-src/vendor" --downloads "$downloads" >/dev/null
tar -C "$work/vendor-src" --sort=name --owner=0 --group=0 --mtime=@0 -czf "$work/rpm/SOURCES/imsprep-vendor-$version.tar.gz" vendor
for target in $targets; do
    case $target in
        el7) defs="rhel 7"; dist=.el7; py=3.6 ;;
        el8) defs="rhel 8"; dist=.el8; py=3.6 ;;
        el9) defs="rhel 9"; dist=.el9; py=3.9 ;;
        openeuler) defs="openEuler 1"; dist=.oe1; py=3.7 ;;  # openEuler 20.03 LTS: Python 3.7
        *) echo "build-rpm: unknown target $target (el7 el8 el9 openeuler)" >&2; exit 2 ;;
    esac
    interp=$(printf '%s\n' "$versions/$py".*/bin/python | sort -V | tail -n 1)
    [ -x "$interp" ] || interp=  # no match: the pattern itself
    if [ -z "$interp" ]; then
        echo "build-rpm: no CPython $py in $versions to byte-compile for $target (pyenv install $py)" >&2
        exit 1
    fi
    # --nodeps: the BuildRequires (python3-babel) are Debian packages here, which rpm's database does not know
    rpmbuild -bb --nodeps --define "_topdir $work/rpm" --define "$defs" --define "dist $dist" \
        --define "python3_version $py" --define "__python3 $interp" \
        "$top/packaging/rpm/imsprep.spec" >"$work/rpm-$target.log" 2>&1 || { tail -40 "$work/rpm-$target.log"; exit 1; }
done
cp "$work"/rpm/RPMS/noarch/imsprep-*.rpm "$out/"
ls "$out"/imsprep-*.rpm
