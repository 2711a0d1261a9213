"""kill -9 at every step of a fix: afterwards the guest still boots (with its old initramfs on the
SATA/IDE disk it was built for, or with the new one on virtio), and both `imsprep rollback` and
a new `imsprep fix` complete."""

import os
import signal
import subprocess
import sys
import time

import guests
import pytest
from conftest import REPO, check_json, run_imsprep
from test_e2e_fix import ITOOLS_BOOT_ARGS, broken_itools  # noqa: F401 (fixture)

from imsprep.facts.initramfs import InitramfsReader

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def fix_killed(root, point):
    env = dict(os.environ, PYTHONPATH=REPO)
    argv = [sys.executable, "-m", "imsprep", "fix", "--root", root, "--yes"]
    if point != "during-rebuild":
        proc = subprocess.run(argv, env=dict(env, IMSPREP_FAULT_INJECT=point), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        return proc.returncode
    # external kill -9 of imsprep and its generator while the new image is being written
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    tmp = [os.path.join(root, "boot", n + ".imsprep-new") for n in os.listdir(os.path.join(root, "boot")) if n.startswith("initrd.img-")]
    deadline = time.time() + 120
    while time.time() < deadline and not any(os.path.exists(t) for t in tmp) and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def image_is_whole(path):
    with open(path, "rb") as fh:
        return InitramfsReader(run_host=lambda argv, stdout_file=None: subprocess.run(
            argv, stdout=stdout_file, stderr=subprocess.DEVNULL)).list(fh, path) and True


@pytest.mark.parametrize("point", ["after-backup", "during-rebuild", "before-replace", "after-replace"])
def test_kill_9_during_fix(broken_itools, tmp_path, point):  # noqa: F811
    root, reference = broken_itools
    kver = guests.kver_of(root)
    image = os.path.join(root, "boot", "initrd.img-" + kver)
    with open(image, "rb") as fh:
        original = fh.read()
    rc = fix_killed(root, point)
    assert rc == -signal.SIGKILL
    with open(image, "rb") as fh:
        now = fh.read()
    old = now == original
    assert point != "after-replace" or not old
    disk = guests.make_disk(root, str(tmp_path / "disk.img"))
    kernel = os.path.join(root, "boot", "vmlinuz-" + kver)
    if old:  # built for SATA/IDE: it still boots there
        booted, log, _ = guests.boot(kernel, image, disk, str(tmp_path / "boot.log"), ITOOLS_BOOT_ARGS, root="/dev/sda", bus="ide")
    else:
        booted, log, _ = guests.boot(kernel, image, disk, str(tmp_path / "boot.log"), ITOOLS_BOOT_ARGS)
    os.unlink(disk)
    assert booted, log[-1500:]

    run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    assert guests.tree_differences(reference, root) == []
    assert not any(n.endswith(".imsprep-new") for n in os.listdir(os.path.join(root, "boot")))
    run_imsprep("fix", "--root", root, "--yes", check_rc=0)
    report, rc = check_json(root)
    assert rc == 0


def test_kill_9_during_suite_removal_then_fix_completes(tmp_path):
    root = str(tmp_path / "guest")
    subprocess.run(["cp", "-a", guests.itools_guest(), root], check=True)
    with guests.chroot_mounts(root):
        guests.run(["chroot", root, "apt-get", "install", "-y", "-q", "--no-install-recommends", "open-vm-tools"])
    assert fix_killed(root, "during-suite-removal") == -signal.SIGKILL
    run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    report, _ = check_json(root)
    assert [s["id"] for s in report["pv_suites"]] == ["vmware-tools"]
    run_imsprep("fix", "--root", root, "--yes", check_rc=0)
    report, _ = check_json(root)
    assert report["pv_suites"] == []
