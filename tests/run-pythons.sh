#!/bin/sh
# The fast tests under the oldest Pythons imsprep supports on guests (3.6: CentOS 7/8, SLES 15,
# Ubuntu 18.04; 3.8), with the newest dependency versions each can install (tests/requirements-pyXY.txt),
# then, with the project's .venv:
#   tests/test_e2e_py36.py    a real broken cached guest tree checked, fixed and rolled back by CPython 3.6
#   tests/test_rpm_targets.py the .el8/.el9 RPM payloads run with RHEL 8/9's library versions
#                             (.venv-el8libs, .venv-el9libs from tests/requirements-el8libs.txt, -el9libs.txt)
# Interpreters come from pyenv ($PYENV_ROOT, default /root/.pyenv); a missing one is an error.
# Run after tests/setup-deps.sh (the cached guests and .venv). Called by .ci/run.
set -eu
cd "$(dirname "$0")/.."
versions="${PYENV_ROOT:-/root/.pyenv}/versions"

make_venv() {  # VENV PYTHON-VERSION REQUIREMENTS
    interp=$(printf '%s\n' "$versions/$2".*/bin/python | sort -V | tail -n 1)
    if [ -z "$interp" ] || [ ! -x "$interp" ]; then
        echo "run-pythons: no CPython $2 in $versions (install it: pyenv install $2)" >&2
        exit 1
    fi
    if [ ! -x "$1/bin/python" ] || ! cmp -s "$3" "$1/imsprep-requirements.txt"; then
        echo "run-pythons: making $1 from $interp ($3)"
        rm -rf "$1"
        "$interp" -m venv "$1"
        "$1/bin/python" -m pip install -q "$(grep '^pip==' "$3")"
        "$1/bin/python" -m pip install -q -r "$3"
        cp "$3" "$1/imsprep-requirements.txt"
    fi
}

for v in 3.6 3.8; do
    tag=$(echo "$v" | tr -d .)
    make_venv ".venv$tag" "$v" "tests/requirements-py$tag.txt"
    echo "run-pythons: fast tests under $(".venv$tag/bin/python" --version 2>&1)"
    ".venv$tag/bin/python" -m pytest -m "not e2e" -q -p no:cacheprovider
done
make_venv .venv-el8libs 3.6 tests/requirements-el8libs.txt
make_venv .venv-el9libs 3.9 tests/requirements-el9libs.txt
echo "run-pythons: a real broken guest under Python 3.6; the RPM payloads with RHEL 8/9 library versions"
IMSPREP_REQUIRE_PYTHONS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_e2e_py36.py tests/test_rpm_targets.py
