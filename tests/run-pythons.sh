#!/bin/sh
# The fast tests under the oldest Pythons imsprep supports on guests (3.6: CentOS 7/8, SLES 15,
# Ubuntu 18.04; 3.8), with the newest dependency versions each can install (tests/requirements-pyXY.txt),
# then one real check + fix + rollback of a broken cached guest tree under 3.6 (tests/test_e2e_py36.py).
# Interpreters come from pyenv ($PYENV_ROOT, default /root/.pyenv); a missing one is an error.
# Run after tests/setup-deps.sh (the cached guests and .venv). Called by .ci/run.
set -eu
cd "$(dirname "$0")/.."
versions="${PYENV_ROOT:-/root/.pyenv}/versions"
for v in 3.6 3.8; do
    tag=$(echo "$v" | tr -d .)
    interp=$(ls -d "$versions/$v".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$interp" ] || [ ! -x "$interp" ]; then
        echo "run-pythons: no CPython $v in $versions (install it: pyenv install $v)" >&2
        exit 1
    fi
    venv=".venv$tag"
    req="tests/requirements-py$tag.txt"
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/imsprep-requirements.txt"; then
        echo "run-pythons: making $venv from $interp ($req)"
        rm -rf "$venv"
        "$interp" -m venv "$venv"
        "$venv/bin/python" -m pip install -q "$(grep '^pip==' "$req")"
        "$venv/bin/python" -m pip install -q -r "$req"
        cp "$req" "$venv/imsprep-requirements.txt"
    fi
    echo "run-pythons: fast tests under $("$venv/bin/python" --version 2>&1)"
    "$venv/bin/python" -m pytest -m "not e2e" -q -p no:cacheprovider
done
echo "run-pythons: check + fix + rollback of a real broken guest tree under Python 3.6"
IMSPREP_REQUIRE_PY36=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_e2e_py36.py
