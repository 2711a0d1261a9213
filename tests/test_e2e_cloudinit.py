"""The cloud-init hook at first boot: a guest with cloud-init and the imsprep .deb, booted under
QEMU (TCG) with a NoCloud seed made by cloud-localds, prints imsprep's report on the serial
console and keeps it in /var/log/imsprep/cloud-init.log."""

import os
import shutil
import subprocess

import guests
import pytest
from conftest import REPO

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("cloud-localds") or not shutil.which("dpkg-buildpackage"),
                                 reason="needs root, cloud-image-utils and dpkg-dev (tests/setup-deps.sh)")]

USER_DATA = """#cloud-config
power_state:
  mode: poweroff
  delay: now
  condition: true
"""


def test_first_boot_runs_the_hook(tmp_path):
    out = tmp_path / "deb"
    subprocess.run(["sh", os.path.join(REPO, "packaging", "build-deb.sh"), str(out)], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deb = next(out.glob("imsprep_*_all.deb"))
    root = str(tmp_path / "guest")
    subprocess.run(["cp", "-a", guests.cloud_guest(), root], check=True)
    shutil.copyfile(str(deb), os.path.join(root, "tmp", deb.name))
    with guests.chroot_mounts(root):
        guests.run(["chroot", root, "apt-get", "install", "-y", "-q", "/tmp/" + deb.name])
    (tmp_path / "user-data").write_text(USER_DATA)
    (tmp_path / "meta-data").write_text("instance-id: imsprep-e2e-1\nlocal-hostname: imsprep-e2e\n")
    seed = str(tmp_path / "seed.img")
    subprocess.run(["cloud-localds", seed, str(tmp_path / "user-data"), str(tmp_path / "meta-data")], check=True)
    disk = str(tmp_path / "disk.img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, disk, "3G"], check=True)
    kver = guests.kver_of(root)
    log = str(tmp_path / "serial.log")
    argv = ["timeout", "420", "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1536", "-smp", "2",
            "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "file:" + log,
            "-kernel", os.path.join(root, "boot", "vmlinuz-" + kver), "-initrd", os.path.join(root, "boot", "initrd.img-" + kver),
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1",
            "-drive", "file=%s,if=virtio,format=raw" % disk, "-drive", "file=%s,if=virtio,format=raw" % seed]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    with open(log, errors="replace") as fh:
        console = fh.read()
    assert "imsprep cloud-init hook, mode=check" in console, console[-3000:]
    assert "imsprep 0.1.0 check of this machine" in console and "KVM  ready" in console
    subprocess.run(["debugfs", "-R", "dump /var/log/imsprep/cloud-init.log %s" % (tmp_path / "hook.log"), disk],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert "imsprep exit code: 0" in (tmp_path / "hook.log").read_text()
