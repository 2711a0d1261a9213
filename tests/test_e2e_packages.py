"""The Debian package, built with dpkg-buildpackage from packaging/debian and installed with
apt into a debootstrapped guest, runs `imsprep check` on the guest's own python3 and libraries."""

import json
import os
import shutil
import subprocess

import guests
import pytest
from conftest import REPO, validate_report

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dpkg-buildpackage"),
                                                  reason="needs root and dpkg-dev/debhelper (tests/setup-deps.sh)")]


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    subprocess.run(["sh", os.path.join(REPO, "packaging", "build-deb.sh"), str(out)], check=True, capture_output=True)
    return str(next(out.glob("imsprep_*_all.deb")))


def test_deb_contents(deb):
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    for path in ("./usr/bin/imsprep", "/imsprep/kb/drivers.json", "/imsprep/templates/report.txt.j2",
                 "./usr/share/man/man8/imsprep.8.gz", "./etc/imsprep/imsprep.conf",
                 "./var/lib/cloud/scripts/per-instance/imsprep"):
        assert path in listing, path
    info = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True, check=True).stdout
    for dep in ("python3-psutil", "python3-distro", "python3-jinja2", "python3-sh", "initramfs-tools | dracut"):
        assert dep in info


def test_deb_installs_and_checks_in_bookworm_guest(deb, tmp_path):
    root = str(tmp_path / "guest")
    subprocess.run(["cp", "-a", guests.itools_guest(), root], check=True)
    shutil.copyfile(deb, os.path.join(root, "tmp", os.path.basename(deb)))
    with guests.chroot_mounts(root):
        guests.run(["chroot", root, "apt-get", "install", "-y", "-q", "/tmp/" + os.path.basename(deb)])
        proc = subprocess.run(["chroot", root, "imsprep", "check", "--format", "json"], capture_output=True)
        man = subprocess.run(["chroot", root, "test", "-s", "/usr/share/man/man8/imsprep.8.gz"])
    assert proc.returncode in (0, 1), proc.stderr.decode()
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["distro"]["id"] == "debian" and report["kernels"][0]["version"] == guests.kver_of(root)
    assert report["kernels"][0]["targets"]["kvm"]["ready"] is True
    assert man.returncode == 0
