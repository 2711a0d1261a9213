"""Code rules the project holds itself to: ruff clean, nothing newer than Python 3.6 (vermin)."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO


def _tool(name):
    exe = os.path.join(os.path.dirname(sys.executable), name)
    exe = exe if os.path.exists(exe) else shutil.which(name)
    if not exe and os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(REPO, ".venv")):
        # .venv36/.venv38 (tests/run-pythons.sh) hold the runtime dependencies only; ruff and vermin
        # (none for 3.6) lint the source, which does not change with the interpreter: .venv's run checks it
        pytest.skip("%s is not in this interpreter's environment (%s); the .venv run checks this" % (name, sys.prefix))
    assert exe, "%s is a test dependency (pip install -e .[test])" % name
    return exe


def test_ruff_clean():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_vermin_says_python_36():
    proc = subprocess.run([_tool("vermin"), "--no-tips", "--violations", "-t=3.6-", "--eval-annotations", "imsprep"],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_mypy_clean():
    """The type hints are checked, not only written: mypy (config in pyproject.toml) finds nothing."""
    _tool("mypy")  # skips in the runtime-only environments, like ruff and vermin
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", os.devnull, "imsprep"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0 and "Success: no issues found" in out, out
