"""imsprep on Debian's own python3 and its packaged libraries (python3-sh 1.14, python3-distro 1.8),
and as an unprivileged user: read-only, and it says what it could not read."""

import os
import shutil
import subprocess
import tempfile

import pytest
from conftest import REPO
from fakeguest import KVM_MODULES_61, XEN_MODULES
from test_check_fake import debian_guest

SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_ready():
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import sh, distro, psutil, jinja2; print(sh.__version__)"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return probe.returncode == 0 and probe.stdout.startswith(b"1.")


pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not system_python_ready(),
                                reason="needs root and Debian's python3-sh 1.x, python3-distro, python3-psutil, python3-jinja2")


@pytest.fixture
def world_readable():
    top = tempfile.mkdtemp(prefix="imsprep-nonroot-", dir="/tmp")
    os.chmod(top, 0o755)
    shutil.copytree(os.path.join(REPO, "imsprep"), os.path.join(top, "imsprep"))
    for kind in ("checks", "templates"):
        shutil.copytree(os.path.join(REPO, kind), os.path.join(top, kind))
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    yield top
    shutil.rmtree(top)


def run(top, guest_root, user=None):
    argv = [SYSTEM_PYTHON, "-m", "imsprep", "check", "--root", guest_root]
    if user:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
    return subprocess.run(argv, cwd=top, env={"PYTHONPATH": top, "PATH": os.environ["PATH"]}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sh_1_14_and_unprivileged_user(world_readable):
    guest, kver = debian_guest(os.path.join(world_readable, "guest"), modules=None)
    guest.initramfs(kver, KVM_MODULES_61 + XEN_MODULES, kind="zstd")  # zstd goes through the host tool, via sh 1.14
    for dirpath, dirnames, _ in os.walk(guest.root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
    proc = run(world_readable, guest.root)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    image = guest.path("/boot/initrd.img-%s" % kver)
    os.chmod(image, 0o600)
    proc = run(world_readable, guest.root, user=65534)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr.decode()
    assert "NOT_ROOT" in out and "could not read /boot/initrd.img-%s" % kver in out
    assert "INITRAMFS_UNREADABLE" in out and "DRIVER_NOT_IN_INITRAMFS" not in out
