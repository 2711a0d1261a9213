"""The oldest Python imsprep supports (3.6: CentOS 7/8, SLES 15, Ubuntu 18.04) on a real broken guest
tree: check, fix and rollback run by CPython 3.6 with the dependency versions 3.6 can install
(tests/requirements-py36.txt, in .venv36 made by tests/run-pythons.sh)."""

import json
import os
import shutil
import subprocess

import guests
import pytest
from conftest import REPO

PY36 = os.path.join(REPO, ".venv36", "bin", "python")
REQUIRED = os.environ.get("IMSPREP_REQUIRE_PYTHONS") == "1"  # set by tests/run-pythons.sh: a missing venv fails

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap"),
                                 reason="needs root and debootstrap (tests/setup-deps.sh installs them)")]


def py36(*args):
    if not os.path.exists(PY36):
        if REQUIRED:
            pytest.fail("%s is missing: tests/run-pythons.sh makes it" % PY36)
        pytest.skip("no .venv36 (tests/run-pythons.sh makes it)")
    env = dict(os.environ, PYTHONPATH=REPO, NO_COLOR="1")
    return subprocess.run([PY36, "-m", "imsprep"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, universal_newlines=True, env=env, timeout=900)


def test_check_fix_rollback_under_python36(tmp_path):
    version = subprocess.run([PY36, "-c", "import sys; print(sys.version_info[:2])"], stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.strip() if os.path.exists(PY36) else None
    assert version in (None, "(3, 6)"), version
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    kver = guests.break_itools(root)
    reference = guests.clone_guest(guests.itools_guest(), str(tmp_path / "reference"))
    guests.break_itools(reference)

    check = py36("check", "--root", root, "--format", "json")
    assert check.returncode == 1, check.stderr[-3000:]
    assert "Traceback" not in check.stderr
    assert not json.loads(check.stdout)["verdict"]["kvm"]["ready"]

    dry = py36("fix", "--root", root, "--dry-run")
    assert dry.returncode == 1 and "dry run: nothing was changed" in dry.stdout, dry.stdout + dry.stderr[-3000:]
    assert guests.tree_differences(reference, root, exclude=()) == []

    fix = py36("fix", "--root", root, "--yes", "--format", "json")
    assert fix.returncode == 0, fix.stdout[-3000:] + fix.stderr[-3000:]
    result = json.loads(fix.stdout)
    assert result["applied"]["failed"] == [] and result["report"]["verdict"]["kvm"]["ready"]
    with open(os.path.join(root, "etc", "initramfs-tools", "modules")) as fh:
        assert "\nvirtio_blk\n" in fh.read()
    assert guests.tree_differences(reference, root) != []
    assert "boot/initrd.img-" + kver in guests.tree_differences(reference, root)

    back = py36("rollback", "--root", root, "--yes")
    assert back.returncode == 0, back.stdout + back.stderr[-3000:]
    assert guests.tree_differences(reference, root) == []
