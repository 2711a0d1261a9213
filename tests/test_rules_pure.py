"""The rules are functions of the facts: once gathered, assess() never touches the guest. Proved by
running it on facts whose System raises on every method call, for guests that take every rule path
that once did I/O (module lookups, the UVP backup remedy, missing modules.dep, systemd-boot)."""

import os
import subprocess

import pytest
from fakeguest import FakeGuest
from test_bootloader import systemd_boot_guest
from test_check_fake import debian_guest

from imsprep.facts import gather
from imsprep.knowledge import Knowledge
from imsprep.rules import assess
from imsprep.system import System


class ForbiddenSystem(System):
    """The gathered system's state (root, live, label, what was unreadable), and nothing else:
    calling any method is a rule doing I/O."""

    def __init__(self, real: System):  # no super().__init__: nothing of System may run
        self.__dict__.update(real.__dict__)

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if callable(value) and not name.startswith("__"):
            raise AssertionError("a rule touched the guest: System.%s" % name)
        return value


def _summary(assessment):
    return sorted((f.code, f.message, f.remediation, tuple(f.targets), f.blocking) for f in assessment.findings)


def assess_forbidden(root, targets=("kvm", "xen")):
    facts = gather(System(root), Knowledge(), use_cache=False)
    expected = _summary(assess(facts, list(targets)))
    forbidden = ForbiddenSystem(facts.system)
    facts.system = forbidden
    for kernel in facts.kernels:
        kernel.system = forbidden
    got = assess(facts, list(targets))
    assert _summary(got) == expected
    return got


def test_forbidden_system_raises(tmp_path):
    guest, _ = debian_guest(tmp_path / "g")
    with pytest.raises(AssertionError, match="System.read_text"):
        ForbiddenSystem(System(guest.root)).read_text("/etc/os-release")


def test_assess_needs_no_guest_access_missing_drivers(tmp_path):
    guest, _ = debian_guest(tmp_path / "g", modules=["ext4"])
    guest.write("/etc/modprobe.d/pv.conf", "blacklist xen_blkfront\n")
    guest.write("/etc/fstab", "/dev/xvda1 / ext4 defaults 0 1\n")
    codes = {f.code for f in assess_forbidden(guest.root).findings}
    assert {"DRIVER_NOT_IN_INITRAMFS", "MODPROBE_BLOCKS_DRIVER", "DEVICE_NAME_UNSTABLE"} <= codes


def test_assess_needs_no_guest_access_uvp_backup_and_no_depmod(tmp_path):
    """UVP moved the native XEN drivers into uvp_mods_backup.tar: DRIVER_MISSING, whose remedy names
    the tar (once globbed by the rule); a second kernel has no modules.dep."""
    guest, kver = debian_guest(tmp_path / "g")
    moddir = guest.path("/lib/modules/" + kver)
    natives = ["kernel/drivers/block/xen-blkfront.ko", "kernel/drivers/net/xen-netfront.ko"]
    subprocess.run(["tar", "-cf", "uvp_mods_backup.tar"] + natives, cwd=moddir, check=True)
    for rel in natives:
        os.unlink(os.path.join(moddir, rel))
    FakeGuest(guest.root).kernel("debian-13-trixie-6.12.117+deb13-x86_64", kver="6.12.117+deb13-amd64", with_dep=False)
    assessment = assess_forbidden(guest.root, targets=("xen",))
    missing = [f for f in assessment.findings if f.code == "DRIVER_MISSING"]
    assert missing and all("uvp_mods_backup.tar" in f.remediation for f in missing), missing
    assert any(f.code == "MODULES_DEP_MISSING" for f in assessment.findings)


def test_assess_needs_no_guest_access_systemd_boot(tmp_path):
    guest, old, _ = systemd_boot_guest(tmp_path / "g")
    assessment = assess_forbidden(guest.root)
    assert [k.kernel.kver for k in assessment.kernels if k.decisive] == [old]
