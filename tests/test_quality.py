"""Code rules the project holds itself to: ruff clean, nothing newer than Python 3.8 (vermin)."""

import os
import shutil
import subprocess
import sys

from conftest import REPO


def _tool(name):
    exe = os.path.join(os.path.dirname(sys.executable), name)
    exe = exe if os.path.exists(exe) else shutil.which(name)
    assert exe, "%s is a test dependency (pip install -e .[test])" % name
    return exe


def test_ruff_clean():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_vermin_says_python_38():
    proc = subprocess.run([_tool("vermin"), "--no-tips", "--violations", "-t=3.8-", "--eval-annotations", "imsprep"],
                          cwd=REPO, capture_output=True)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
