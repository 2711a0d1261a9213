"""Distro identification from real os-release / *-release samples (tests/data/os-release)."""

import os

import pytest
from fakeguest import FakeGuest

from imsprep.facts.distro_info import read_distro
from imsprep.facts.generator import read_generator
from imsprep.knowledge import Knowledge
from imsprep.system import System

CASES = [
    ("debian-pkg_debian-11", "debian", "debian", None),
    ("debian-pkg_debian-12", "debian", "debian", None),
    ("debian-pkg_debian-13", "debian", "debian", None),
    ("ansible_ubuntu_18.04", "ubuntu", "debian", None),
    ("briefcase_ubuntu-22.04", "ubuntu", "debian", None),
    ("cloud-init_centos-7", "centos", "rhel", None),
    ("cloud-init_centos-6", "centos", "rhel", None),
    ("cloud-init_rhel-7", "rhel", "rhel", None),
    ("python-distro_rhel9", "rhel", "rhel", None),
    ("python-distro_rocky9", "rocky", "rhel", None),
    ("ansible_redhat_6.7", "rhel", "rhel", None),
    ("ansible_amazon_linux_2", "amzn", "rhel", None),
    ("distropacks_fedora-41", "fedora", "rhel", None),
    ("mql_euleros-2", "euleros", "rhel", None),
    ("mql_hce-2", "hce", "rhel", None),
    ("mql_openeuler", "openeuler", "rhel", None),
    ("ansible_kylin_linux_advanced_server_v10", "kylin", "rhel", None),
    ("ansible_sles_11.3", "sles", "suse", 3),
    ("ansible_sles_11.4", "sles", "suse", 4),
    ("ansible_sles_12_sp1", "sles", "suse", 1),
    ("ansible_opensuse_13.2", "opensuse", "suse", None),
    ("ansible_opensuse_leap_15.1", "opensuse", "suse", None),
    ("ansible_deepin_20.4", "deepin", "debian", None),
]


@pytest.mark.parametrize("sample,distro_id,family,patchlevel", CASES)
def test_real_release_files(tmp_path, sample, distro_id, family, patchlevel):
    guest = FakeGuest(tmp_path / "g").os_release(sample)
    info = read_distro(System(guest.root), Knowledge())
    assert (info.id, info.family) == (distro_id, family), info.to_dict()
    if patchlevel is not None:
        assert info.suse_patchlevel == patchlevel


@pytest.mark.parametrize("sample,db,family", [("ansible_uos_20", "dpkg", "debian"),
                                              ("ansible_uos_server_20_uel20", "rpm", "rhel"),
                                              ("ansible_uniontech_os_server_20_uelc20", "rpm", "rhel")])
def test_uos_editions_follow_the_package_database(tmp_path, sample, db, family):
    guest = FakeGuest(tmp_path / "g").os_release(sample)
    if db == "dpkg":
        guest.dpkg()
    else:
        os.makedirs(guest.path("/var/lib/rpm"))
    info = read_distro(System(guest.root), Knowledge())
    assert info.id == "uos" and info.family == family


def test_host_files_are_never_read(tmp_path):
    """A guest without any release file is 'unknown', whatever the host is."""
    info = read_distro(System(str(tmp_path)), Knowledge())
    assert info.id == "unknown" and info.family == "unknown"


def test_generators(tmp_path):
    knowledge = Knowledge()
    guest = FakeGuest(tmp_path / "rhel").os_release("python-distro_rhel9")
    guest.executable("/usr/bin/dracut")
    guest.executable("/usr/sbin/mkinitrd")  # the RHEL compatibility wrapper
    guest.write("/etc/dracut.conf", "# PUT YOUR CONFIG IN separate files\n")
    guest.write("/etc/dracut.conf.d/01-hostonly.conf", 'hostonly="yes"\nadd_drivers+=" xen-blkfront "\n')
    guest.write("/usr/lib/dracut/dracut.conf.d/01-dist.conf", 'omit_drivers+=" floppy "\n')
    system = System(guest.root)
    gen = read_generator(system, knowledge, read_distro(system, knowledge))
    assert gen.installed == ["dracut"] and gen.active == "dracut" and gen.hostonly is True
    assert gen.forced_modules == ["xen_blkfront"] and gen.omitted_modules == ["floppy"]

    guest = FakeGuest(tmp_path / "sles11").os_release("ansible_sles_11.3")
    guest.executable("/sbin/mkinitrd")
    guest.write("/etc/sysconfig/kernel", '## Type: string\nINITRD_MODULES="processor thermal ata_piix xen_vbd"\n')
    system = System(guest.root)
    gen = read_generator(system, knowledge, read_distro(system, knowledge))
    assert gen.active == "suse-mkinitrd" and gen.forced_modules == ["processor", "thermal", "ata_piix", "xen_vbd"]
