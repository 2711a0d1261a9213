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
                 "./var/lib/cloud/scripts/per-instance/imsprep", "./etc/cloud/clean.d/99-imsprep", "/imsprep/kb/seal.json",
                 "/imsprep/seal/operations.py"):
        assert path in listing, path
    info = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True, check=True).stdout
    for dep in ("python3-psutil", "python3-distro", "python3-jinja2", "python3-sh", "initramfs-tools | dracut"):
        assert dep in info


@pytest.mark.parametrize("suite", ["bullseye", "bookworm", "trixie"])
def test_deb_installs_and_checks_in_each_debian_release(deb, tmp_path, suite):
    """Python 3.9 / 3.11 / 3.13 with each release's own python3-sh, -distro, -jinja2, -psutil."""
    root = str(tmp_path / "guest")
    subprocess.run(["cp", "-a", guests.release_guest(suite), root], check=True)
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


@pytest.mark.skipif(not shutil.which("rpmbuild"), reason="needs rpm (tests/setup-deps.sh)")
def test_rpm_builds_with_the_right_files_and_requirements(tmp_path):
    subprocess.run(["sh", os.path.join(REPO, "packaging", "build-rpm.sh"), str(tmp_path)], check=True, capture_output=True)
    rpm = str(next(tmp_path.glob("imsprep-*.noarch.rpm")))
    files = subprocess.run(["rpm", "-qpl", rpm], capture_output=True, text=True, check=True).stdout.split()
    for path in ("/usr/bin/imsprep", "/usr/share/imsprep/imsprep/cli.py", "/usr/share/imsprep/imsprep/kb/drivers.json",
                 "/usr/share/imsprep/imsprep/templates/report.txt.j2", "/usr/share/man/man8/imsprep.8",
                 "/etc/imsprep/imsprep.conf", "/var/lib/cloud/scripts/per-instance/imsprep", "/var/lib/imsprep",
                 "/etc/cloud/clean.d/99-imsprep", "/usr/share/imsprep/imsprep/kb/seal.json",
                 "/usr/share/imsprep/imsprep/seal/operations.py"):
        assert path in files, path
    requires = subprocess.run(["rpm", "-qpR", rpm], capture_output=True, text=True, check=True).stdout.split("\n")
    for dep in ("python3-psutil", "python3-distro", "python3-jinja2", "python3-sh", "dracut"):
        assert dep in requires
    config = subprocess.run(["rpm", "-qp", "--configfiles", rpm], capture_output=True, text=True, check=True).stdout.split()
    assert "/etc/imsprep/imsprep.conf" in config
    # the payload runs: unpack it and check the sample guest with Debian's python3
    payload = tmp_path / "payload"
    payload.mkdir()
    subprocess.run("rpm2cpio %s | cpio -idm --quiet" % rpm, shell=True, cwd=str(payload), check=True)
    proc = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); from imsprep.cli import main; "
                           "sys.exit(main(['check', '--root', sys.argv[2], '--format', 'json']))",
                           str(payload / "usr" / "share" / "imsprep"), os.path.join(REPO, "examples", "sample-guest")],
                          capture_output=True, env={"PATH": os.environ["PATH"], "IMSPREP_CONFIG": "/nonexistent"})
    assert proc.returncode == 1, proc.stderr.decode()
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["verdict"]["kvm"]["ready"] is False
