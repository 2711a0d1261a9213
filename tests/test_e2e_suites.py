"""PV and vendor suites: real Debian packages (open-vm-tools, hyperv-daemons) installed in a
debootstrapped guest, and the modelled UVP VMTools: check finds them, fix removes them,
rollback brings them back."""

import json
import os
import re
import shutil
import subprocess

import guests
import pytest
from conftest import check_json, run_imsprep
from uvp_fixture import install_uvp

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap"), reason="needs root and debootstrap")]

# what dpkg and ldconfig rewrite on any install/remove; compared through dpkg's answers instead
PACKAGE_STATE = ("var/lib/imsprep", "var/log/imsprep", "var/lib/dpkg", "var/log", "var/cache/ldconfig", "var/cache/debconf",
                 "var/lib/systemd/deb-systemd-helper-enabled", "var/lib/systemd/deb-systemd-helper-masked", "dev")


def installed(root):
    with open(os.path.join(root, "var", "lib", "dpkg", "status")) as fh:
        text = fh.read()
    found = {}
    for stanza in text.split("\n\n"):
        name = re.search(r"^Package: (.*)$", stanza, re.M)
        if name and re.search(r"^Status: install ok installed$", stanza, re.M):
            found[name.group(1)] = re.search(r"^Version: (.*)$", stanza, re.M).group(1)
    return found


@pytest.fixture(scope="module")
def vendor_guest(tmp_path_factory):
    """A full copy (dpkg writes in place) of the bookworm guest with the two vendor suites installed."""
    root = str(tmp_path_factory.mktemp("vendor") / "guest")
    subprocess.run(["cp", "-a", guests.itools_guest(), root], check=True)
    with guests.chroot_mounts(root):
        guests.run(["chroot", root, "apt-get", "install", "-y", "-q", "--no-install-recommends", "open-vm-tools", "hyperv-daemons"])
    return root


def test_vendor_packages_removed_and_restored(vendor_guest, tmp_path):
    root = vendor_guest
    reference = str(tmp_path / "reference")
    subprocess.run(["cp", "-a", root, reference], check=True)
    before = installed(root)
    report, rc = check_json(root)
    assert rc == 0  # they do not break booting: warnings, and fix removes them
    suites = {s["id"]: s for s in report["pv_suites"]}
    assert suites["vmware-tools"]["packages"] == ["open-vm-tools"]
    assert suites["hyperv-lis"]["packages"] == ["hyperv-daemons"]
    assert {f["code"] for f in report["findings"]} >= {"PV_SUITE_PRESENT"}

    proc = run_imsprep("fix", "--root", root, "--yes", "--format", "json", check_rc=0)
    result = json.loads(proc.stdout)
    assert [a["kind"] for a in result["plan"]["actions"]] == ["remove-suite", "remove-suite"]
    assert result["report"]["pv_suites"] == []
    after = installed(root)
    assert "open-vm-tools" not in after and "hyperv-daemons" not in after

    proc = run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    assert b"reinstall open-vm-tools" in proc.stdout
    assert installed(root) == before
    report, _ = check_json(root)
    assert {s["id"] for s in report["pv_suites"]} == {"vmware-tools", "hyperv-lis"}
    assert guests.tree_differences(reference, root, exclude=PACKAGE_STATE) == []


def test_uvp_vmtools_model(tmp_path):
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    kver = guests.kver_of(root)
    install_uvp(root, kver)
    reference = guests.clone_guest(root, str(tmp_path / "reference"))
    report, rc = check_json(root)
    assert rc == 1
    suite = next(s for s in report["pv_suites"] if s["id"] == "uvp-vmtools")
    assert suite["uninstallers"] == ["/etc/.uvp-monitor/uninstall"]
    xen = {d["name"]: d for d in report["kernels"][0]["targets"]["xen"]["drivers"]}
    assert xen["xen-blkfront"]["substitute"] == ["xen_vbd", "xen_platform_pci"]
    blocks = next(f for f in report["findings"] if f["code"] == "PV_SUITE_BLOCKS")
    assert set(blocks["targets"]) == {"kvm", "xen"}

    proc = run_imsprep("fix", "--root", root, "--yes", check_rc=0)
    assert b"running /etc/.uvp-monitor/uninstall" in proc.stderr
    assert not os.path.exists(os.path.join(root, "etc", ".uvp-monitor"))
    assert os.path.exists(os.path.join(root, "lib", "modules", kver, "kernel", "drivers", "block", "xen-blkfront.ko"))
    report, rc = check_json(root)
    assert rc == 0 and report["pv_suites"] == []

    run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    assert guests.tree_differences(reference, root, exclude=guests.STATE_PATHS + ("dev", "proc", "sys")) == []
