"""check on small guest trees built from real data: every field note has a test here."""

import os

import pytest
from conftest import check_json, run_imsprep
from fakeguest import KVM_MODULES_61, XEN_MODULES, FakeGuest, compress, make_cpio

DEB12 = "debian-12-bookworm-6.1.0-50-x86_64"
DEB13 = "debian-13-trixie-6.12.117+deb13-x86_64"


def debian_guest(root, modules=KVM_MODULES_61 + XEN_MODULES, **kernel_args):
    guest = FakeGuest(root)
    guest.os_release("debian-pkg_debian-12")
    guest.executable("/usr/sbin/mkinitramfs")
    guest.executable("/usr/sbin/update-initramfs")
    guest.write("/etc/initramfs-tools/initramfs.conf", "MODULES=most\nBUSYBOX=auto\nCOMPRESS=zstd\n")
    guest.write("/etc/initramfs-tools/modules", "# List of modules that you want to include in your initramfs.\n")
    guest.dpkg([("initramfs-tools", "0.142+deb12u1"), ("linux-image-6.1.0-50-amd64", "6.1.176-1")])
    kver = guest.kernel(DEB12, **kernel_args)
    if modules is not None:
        guest.initramfs(kver, modules)
    return guest, kver


def finding_codes(report, severity=None):
    return [f["code"] for f in report["findings"] if severity in (None, f["severity"])]


def kernel_entry(report, kver):
    return next(k for k in report["kernels"] if k["version"] == kver)


def test_ready_guest_exits_0(tmp_path):
    guest, kver = debian_guest(tmp_path / "g")
    report, rc = check_json(guest.root)
    assert rc == 0, report["findings"]
    assert report["verdict"]["kvm"]["ready"] and report["verdict"]["xen"]["ready"]
    drivers = kernel_entry(report, kver)["targets"]["kvm"]["drivers"]
    assert {d["name"]: d["in_initramfs"] for d in drivers} == {n: True for n in
                                                               ["virtio", "virtio_ring", "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net"]}
    assert report["image_properties"]["__support_kvm"] == "true"


def test_missing_virtio_names_every_module(tmp_path):
    guest, kver = debian_guest(tmp_path / "g", modules=["ext4"] + XEN_MODULES)
    report, rc = check_json(guest.root)
    assert rc == 1
    assert not report["verdict"]["kvm"]["ready"] and report["verdict"]["xen"]["ready"]
    finding = next(f for f in report["findings"] if f["code"] == "DRIVER_NOT_IN_INITRAMFS")
    for module in ["virtio", "virtio_ring", "virtio_pci", "virtio_pci_modern_dev", "virtio_blk", "virtio_scsi", "scsi_mod"]:
        assert module in finding["message"]
    assert "update-initramfs -u -k %s" % kver in finding["remediation"]
    nic = next(f for f in report["findings"] if f["code"] == "NIC_DRIVER_NOT_IN_INITRAMFS")
    assert nic["severity"] == "warning" and all(m in nic["message"] for m in ("virtio_net", "net_failover", "failover"))
    assert "__support_kvm" not in report["image_properties"]
    # --target xen alone is ready
    _, rc = check_json(guest.root, "--target", "xen")
    assert rc == 0


def test_nic_driver_only_missing_is_a_warning(tmp_path):
    """The root disk is found without virtio_net in the initramfs: ready, with a warning."""
    guest, kver = debian_guest(tmp_path / "g", modules=[m for m in KVM_MODULES_61 if "failover" not in m and m != "virtio_net"]
                               + ["xen_blkfront"])
    report, rc = check_json(guest.root)
    assert rc == 0, report["verdict"]
    codes = {(f["code"], tuple(f["targets"])) for f in report["findings"]}
    assert ("NIC_DRIVER_NOT_IN_INITRAMFS", ("kvm",)) in codes and ("NIC_DRIVER_NOT_IN_INITRAMFS", ("xen",)) in codes
    kvm = {d["name"]: d for d in kernel_entry(report, kver)["targets"]["kvm"]["drivers"]}
    assert kvm["virtio_net"]["in_initramfs"] is False and kvm["virtio_net"]["ok"] is True


def test_near_miss_module_names_do_not_count(tmp_path):
    """Field note: 'nvme' matched 'nvmem'. virtio_blk_foo.ko, virtio_blkX, xen-blkback and netxen_nic
    must not stand in for virtio_blk / xen-blkfront."""
    guest, kver = debian_guest(tmp_path / "g", modules=None)
    wanted = [m for m in KVM_MODULES_61 if m != "virtio_blk"]
    extra = ["usr/lib/modules/%s/kernel/drivers/block/virtio_blk_foo.ko" % kver,
             "usr/lib/modules/%s/kernel/drivers/block/xvirtio_blk.ko" % kver,
             "usr/lib/modules/%s/kernel/drivers/block/xen-blkback/xen-blkback.ko" % kver,
             "usr/lib/modules/%s/kernel/drivers/net/ethernet/qlogic/netxen/netxen_nic.ko" % kver,
             "usr/lib/modules/%s/kernel/drivers/net/xen-netback/xen-netback.ko" % kver,
             "usr/lib/modules/%s/virtio_blk.conf" % kver]
    guest.initramfs(kver, wanted, extra_files=extra)
    report, rc = check_json(guest.root)
    assert rc == 1
    kvm = {d["name"]: d for d in kernel_entry(report, kver)["targets"]["kvm"]["drivers"]}
    assert kvm["virtio_blk"]["missing_from_initramfs"] == ["virtio_blk"]
    xen = {d["name"]: d for d in kernel_entry(report, kver)["targets"]["xen"]["drivers"]}
    assert xen["xen-blkfront"]["in_initramfs"] is False and xen["xen-netfront"]["in_initramfs"] is False


def test_builtin_driver_is_not_missing_from_initramfs(tmp_path):
    """Field note: a built-in driver (=y, modules.builtin) never appears in the initramfs and needs nothing."""
    guest = FakeGuest(tmp_path / "g")
    guest.os_release("debian-pkg_debian-13")
    kver = guest.kernel(DEB13)
    guest.initramfs(kver, ["virtio_blk", "virtio_scsi", "virtio_net", "net_failover", "failover", "scsi_mod",
                           "scsi_common", "xen_blkfront", "xen_netfront"])
    report, rc = check_json(guest.root)
    assert rc == 0, report["verdict"]
    kvm = {d["name"]: d for d in kernel_entry(report, kver)["targets"]["kvm"]["drivers"]}
    for name in ("virtio", "virtio_ring", "virtio_pci"):
        assert kvm[name]["state"] == "builtin" and kvm[name]["needed_in_initramfs"] == []
    assert kvm["virtio_blk"]["state"] == "module" and kvm["virtio_blk"]["needed_in_initramfs"] == ["virtio_blk"]


def test_unreadable_initramfs_is_not_absent(tmp_path):
    """Field note: lsinitrd printing errors is 'unreadable', not 'missing'."""
    guest, kver = debian_guest(tmp_path / "g", modules=None)
    guest.write("/boot/initrd.img-%s" % kver, b"\x1f\x8b\x08\x00garbage that is not gzip data at all" * 10)
    report, rc = check_json(guest.root)
    assert rc == 1
    codes = finding_codes(report)
    assert "INITRAMFS_UNREADABLE" in codes and "DRIVER_NOT_IN_INITRAMFS" not in codes
    initramfs = kernel_entry(report, kver)["initramfs"]
    assert initramfs["readable"] is False and initramfs["exists"] is True
    assert "unknown, not absent" in next(f["message"] for f in report["findings"] if f["code"] == "INITRAMFS_UNREADABLE")
    kvm = kernel_entry(report, kver)["targets"]["kvm"]["drivers"]
    assert all(d["in_initramfs"] is None for d in kvm)


def test_missing_initramfs(tmp_path):
    guest, kver = debian_guest(tmp_path / "g", modules=None)
    report, rc = check_json(guest.root)
    assert rc == 1 and "INITRAMFS_MISSING" in finding_codes(report)


GRUB_CFG = """#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${{next_entry}}" ] ; then
   set default="${{next_entry}}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="{default}"
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {{
	set gfxpayload="${{1}}"
}}
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11' {{
	load_video
	insmod gzio
	insmod part_msdos
	insmod ext2
	search --no-floppy --fs-uuid --set=root 0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11
	echo	'Loading Linux {new} ...'
	linux	/boot/vmlinuz-{new} root={rootdev} ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-{new}
}}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11' {{
	menuentry 'Debian GNU/Linux, with Linux {new}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-{new}-advanced-0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11' {{
		linux	/boot/vmlinuz-{new} root={rootdev} ro  quiet
		initrd	/boot/initrd.img-{new}
	}}
	menuentry 'Debian GNU/Linux, with Linux {old}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-{old}-advanced-0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11' {{
		linux	/boot/vmlinuz-{old} root={rootdev} ro  quiet
		initrd	/boot/initrd.img-{old}
	}}
}}
### END /etc/grub.d/10_linux ###
"""


def two_kernel_guest(root, default, rootdev="UUID=0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11"):
    """Old kernel 6.1.0-50 with a good initramfs; newer 6.1.0-99 (same real data) without virtio."""
    guest, old = debian_guest(root)
    new = guest.kernel(DEB12, kver="6.1.0-99-amd64")
    guest.initramfs(new, ["ext4"] + XEN_MODULES)
    guest.write("/boot/grub/grub.cfg", GRUB_CFG.format(default=default, new=new, old=old, rootdev=rootdev))
    return guest, old, new


def test_default_kernel_is_judged_not_the_newest(tmp_path):
    """Field note: the bootloader default, not the running or newest kernel, decides."""
    guest, old, new = two_kernel_guest(tmp_path / "a", default="1>1")
    report, rc = check_json(guest.root)
    assert report["default_kernel"] == old
    assert rc == 0, report["verdict"]
    broken = [f for f in report["findings"] if f["code"] == "DRIVER_NOT_IN_INITRAMFS"]
    assert broken and all(f["kernel"] == new and not f["blocking"] for f in broken)

    guest, old, new = two_kernel_guest(tmp_path / "b", default="0")
    report, rc = check_json(guest.root)
    assert report["default_kernel"] == new and rc == 1
    assert any(f["code"] == "DRIVER_NOT_IN_INITRAMFS" and f["kernel"] == new and f["blocking"] for f in report["findings"])


def test_saved_entry_from_grubenv(tmp_path):
    guest, old, new = two_kernel_guest(tmp_path / "g", default="${saved_entry}")
    guest.write("/boot/grub/grubenv", "# GRUB Environment Block\nsaved_entry=gnulinux-%s-advanced-0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11\n"
                % old + "#" * 900)
    report, rc = check_json(guest.root)
    assert report["default_kernel"] == old and rc == 0


def test_initrd_path_comes_from_the_boot_entry(tmp_path):
    """The image to check is what the entry loads (SUSE-style /boot/initrd.vmx), not the standard name."""
    guest, kver = debian_guest(tmp_path / "g", modules=["ext4"])
    guest.initramfs(kver, KVM_MODULES_61 + XEN_MODULES, path="/boot/initrd.vmx")
    guest.write("/boot/grub/menu.lst", "default 0\ntimeout 8\n\ntitle SUSE Linux Enterprise Server\n    root (hd0,0)\n"
                "    kernel /vmlinuz-%s root=UUID=abcd resume=UUID=ef12 splash=silent\n    initrd /initrd.vmx\n" % kver)
    report, rc = check_json(guest.root)
    assert kernel_entry(report, kver)["initramfs"]["path"] == "/boot/initrd.vmx"
    assert rc == 0, report["verdict"]


def test_device_names_in_fstab_and_bootloader(tmp_path):
    """Kernel names are reported with file and line; UUID/LABEL/PARTUUID/mapper are stable."""
    guest, old, new = two_kernel_guest(tmp_path / "g", default="1>1", rootdev="/dev/xvda1")
    guest.write("/etc/fstab", "# /etc/fstab: static file system information.\n"
                "UUID=0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11 /     ext4 errors=remount-ro 0 1\n"
                "/dev/xvdb1 /data ext4 defaults 0 2\n"
                "LABEL=logs /var/log ext4 defaults 0 2\n"
                "PARTUUID=1234-01 /srv ext4 defaults 0 2\n"
                "/dev/mapper/vg-home /home xfs defaults 0 0\n"
                "/dev/sdc1 none swap sw 0 0\n"
                "tmpfs /tmp tmpfs defaults 0 0\n")
    guest.write("/boot/grub/device.map", "(hd0)\t/dev/xvda\n")
    guest.write("/etc/default/grub", 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="resume=/dev/xvda2"\n')
    report, rc = check_json(guest.root)
    assert rc == 1
    refs = {(r["file"], r["device"]) for r in report["device_refs"]}
    assert ("/etc/fstab", "/dev/xvdb1") in refs and ("/etc/fstab", "/dev/sdc1") in refs
    assert ("/boot/grub/device.map", "/dev/xvda") in refs
    assert ("/etc/default/grub", "/dev/xvda2") in refs
    assert ("/boot/grub/grub.cfg", "/dev/xvda1") in refs
    devices = {r["device"] for r in report["device_refs"]}
    assert not any(d.startswith(("UUID", "LABEL", "PARTUUID", "/dev/mapper", "tmpfs")) for d in devices)
    fstab = next(f for f in report["findings"] if f["code"] == "DEVICE_NAME_UNSTABLE" and f["file"] == "/etc/fstab" and "xvdb1" in f["message"])
    assert fstab["line"] == 3 and fstab["targets"] == ["kvm"]
    assert report["verdict"]["kvm"]["ready"] is False


def test_modules_dep_missing_is_reported(tmp_path):
    """Field note: depmod never ran -> say so (and how to fix), still judge from the files."""
    guest, kver = debian_guest(tmp_path / "g", with_dep=False)
    report, rc = check_json(guest.root)
    finding = next(f for f in report["findings"] if f["code"] == "MODULES_DEP_MISSING")
    assert "depmod -a %s" % kver in finding["remediation"]
    kvm = {d["name"]: d for d in kernel_entry(report, kver)["targets"]["kvm"]["drivers"]}
    assert kvm["virtio_blk"]["state"] == "module"


def test_module_file_missing_although_config_says_m(tmp_path):
    guest, kver = debian_guest(tmp_path / "g", skip_modules=["xen-blkfront"])
    report, rc = check_json(guest.root)
    assert rc == 1 and report["verdict"]["kvm"]["ready"] and not report["verdict"]["xen"]["ready"]
    finding = next(f for f in report["findings"] if f["code"] == "DRIVER_MISSING")
    assert "CONFIG_XEN_BLKDEV_FRONTEND=m" in finding["message"]


def test_no_generator_is_said_clearly(tmp_path):
    guest = FakeGuest(tmp_path / "g")
    guest.os_release("cloud-init_centos-7")
    kver = guest.kernel("rhel-8.1-x86_64", kver="4.18.0-147.5.1.el8_1.x86_64")
    report, rc = check_json(guest.root)
    assert rc == 1
    assert "NO_INITRAMFS_GENERATOR" in finding_codes(report)
    assert "INITRAMFS_MISSING" in finding_codes(report) or "DRIVER_MISSING" in finding_codes(report)
    missing = next(f for f in report["findings"] if f["code"] in ("INITRAMFS_MISSING", "DRIVER_MISSING"))
    assert kver in missing["message"]


def test_xen_pv_only_kernel(tmp_path):
    guest = FakeGuest(tmp_path / "g")
    guest.os_release("cloud-init_centos-6")
    guest.write("/boot/config-2.6.18-398.el5xen", "CONFIG_X86_XEN=y\nCONFIG_XEN=y\nCONFIG_XEN_BLKDEV_FRONTEND=y\n"
                "CONFIG_XEN_NETDEV_FRONTEND=y\n# CONFIG_VIRTIO is not set\n")
    guest.write("/boot/vmlinuz-2.6.18-398.el5xen", b"\0")
    guest.write("/lib/modules/2.6.18-398.el5xen/modules.dep", "")
    report, rc = check_json(guest.root)
    assert rc == 1 and report["verdict"]["xen"]["ready"] and not report["verdict"]["kvm"]["ready"]
    assert "KERNEL_XEN_PV_ONLY" in finding_codes(report)


def test_modprobe_rules_that_block_native_drivers(tmp_path):
    guest, kver = debian_guest(tmp_path / "g")
    guest.write("/etc/modprobe.d/pv.conf", "# left by a PV suite\nblacklist xen_blkfront\ninstall virtio_blk /bin/true\n"
                "install virtio_net /sbin/modprobe --ignore-install virtio_net $CMDLINE_OPTS\nalias xen-netfront xen_vnif\n"
                "blacklist pcspkr\n")
    report, rc = check_json(guest.root)
    assert rc == 1
    blocked = [f for f in report["findings"] if f["code"] == "MODPROBE_BLOCKS_DRIVER"]
    assert sorted((f["line"], tuple(f["targets"])) for f in blocked) == [(2, ("xen",)), (3, ("kvm",)), (5, ("xen",))]


def test_uvp_vmtools_modelled_layout(tmp_path):
    """UVP VMTools is not public: its layout (files, uninstall script, rpm names, config blocks)
    from the reference procedure, with a mocked rpm database answer."""
    guest, kver = debian_guest(tmp_path / "g")
    guest.executable("/etc/.uvp-monitor/uninstall")
    guest.write("/etc/.uvp-monitor/version.ini", "[version]\nversion=2.5.0.146\n")
    guest.executable("/usr/bin/uvp-monitor")
    guest.write("/etc/initramfs-tools/modules", "###pvdriver<begin> do not change this comment\nxen-vbd\nxen-vnif\n"
                "###pvdriver<end> do not change this comment\n")
    report, rc = check_json(guest.root)
    assert rc == 1
    suite = next(s for s in report["pv_suites"] if s["id"] == "uvp-vmtools")
    assert "/etc/.uvp-monitor/uninstall" in suite["uninstallers"]
    assert any("pvdriver" in e for e in suite["evidence"])
    finding = next(f for f in report["findings"] if f["code"] == "PV_SUITE_BLOCKS")
    assert set(finding["targets"]) == {"kvm", "xen"} and "/etc/.uvp-monitor/uninstall" in finding["remediation"]


def test_uvp_rpm_packages_via_mocked_rpm(tmp_path, mocker):
    """rpm-based guest: the package query is the edge we cannot run for real here."""
    from imsprep.facts import gather
    from imsprep.knowledge import Knowledge
    from imsprep.rules import assess
    from imsprep.system import CommandResult, System

    guest = FakeGuest(tmp_path / "g")
    guest.os_release("mql_euleros-2")
    guest.write("/var/lib/rpm/Packages", b"")  # rpm is mocked; its database only has to be there
    output = (b"kernel 3.10.0-862.14.1.5.h428.eulerosv2r7\nuvp-monitor 2.5.0.146-1\nkmod-uvpmod 2.5.0.146-1\n"
              b"libxenstore_uvp3 3.0-1\nbash 4.2.46-34.h6\n")
    mocker.patch("imsprep.system.System.host_which", return_value="/usr/bin/rpm")
    run = mocker.patch("imsprep.system.System.run", return_value=CommandResult(["rpm"], 0, output, b""))
    facts = gather(System(guest.root), Knowledge())
    argv = run.call_args_list[0][0][0]
    assert argv[:5] == ["rpm", "--root", guest.root, "--dbpath", "/var/lib/rpm"] and "-qa" in argv
    suite = next(s for s in facts.suites if s.id == "uvp-vmtools")
    assert suite.packages == ["uvp-monitor", "kmod-uvpmod", "libxenstore_uvp3"] or set(suite.packages) == {
        "uvp-monitor", "kmod-uvpmod", "libxenstore_uvp3"}
    assert facts.distro.family == "rhel"
    assessment = assess(facts, ["kvm", "xen"])
    assert not assessment.ready("kvm")


def test_symlinks_stay_inside_the_root(tmp_path):
    """Absolute and climbing symlinks in the guest resolve inside --root, never to host files."""
    guest, kver = debian_guest(tmp_path / "g")
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.lexists(guest.path(name)):
            os.unlink(guest.path(name))
    guest.write("/usr/lib/os-release", 'PRETTY_NAME="Guest OS 1"\nNAME="Guest"\nID=guestos\nID_LIKE=debian\nVERSION_ID="1"\n')
    guest.symlink("/etc/os-release", "/usr/lib/os-release")
    sentinel = tmp_path / "sentinel-fstab"
    sentinel.write_text("/dev/xvda9 / ext4 defaults 0 1\n")
    guest.symlink("/etc/fstab", "../../../../../../../../../../.." + str(sentinel))
    guest.symlink("/boot/grub/grub.cfg", "/boot/grub/grub.cfg")  # a loop
    report, rc = check_json(guest.root)
    assert report["distro"]["id"] == "guestos" and report["distro"]["family"] == "debian"
    assert all(r["device"] != "/dev/xvda9" for r in report["device_refs"])
    assert rc == 0


def test_container_without_kernel(tmp_path):
    guest = FakeGuest(tmp_path / "g")
    guest.os_release("debian-pkg_debian-12")
    proc = run_imsprep("check", "--root", guest.root)
    assert proc.returncode == 1
    assert b"no installed kernel found" in proc.stdout and b"--root DIR" in proc.stdout


def test_bad_root_is_exit_2_without_traceback(tmp_path):
    proc = run_imsprep("check", "--root", tmp_path / "nope")
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr and b"no such directory" in proc.stderr


@pytest.mark.parametrize("kind", ["gzip", "xz", "zstd", "bzip2", "lzma", "lz4", "lzop", "none"])
def test_every_compression_with_early_cpio(tmp_path, kind):
    guest, kver = debian_guest(tmp_path / "g", modules=None)
    guest.initramfs(kver, KVM_MODULES_61 + XEN_MODULES, kind=kind, early_cpio=True)
    report, rc = check_json(guest.root)
    assert rc == 0, report["findings"]
    initramfs = kernel_entry(report, kver)["initramfs"]
    assert initramfs["method"] == "native"
    assert [s["format"] for s in initramfs["segments"]] == ["cpio", "cpio" if kind == "none" else kind]


def test_wrong_kernel_initramfs(tmp_path):
    guest, kver = debian_guest(tmp_path / "g", modules=None)
    other = FakeGuest(tmp_path / "other")
    other_kver = other.kernel(DEB12, kver="6.1.0-7-amd64")
    image = compress(make_cpio(["init"] + other.module_paths(other_kver, KVM_MODULES_61 + XEN_MODULES), other.root), "gzip")
    guest.write("/boot/initrd.img-%s" % kver, image)
    report, rc = check_json(guest.root)
    assert rc == 1 and "INITRAMFS_WRONG_KERNEL" in finding_codes(report)


def test_listing_cache(tmp_path):
    """A second check reads the listing from /var/cache/imsprep; a rebuilt image is read again."""
    guest, kver = debian_guest(tmp_path / "g")
    first, _ = check_json(guest.root)
    second, _ = check_json(guest.root)
    assert kernel_entry(second, kver)["initramfs"]["cached"] is True
    strip = lambda r: [{**k, "initramfs": {**k["initramfs"], "cached": None}} for k in r["kernels"]]  # noqa: E731
    assert strip(first) == strip(second)
    guest.initramfs(kver, ["ext4"])  # replaced: new inode, size and mtime
    third, rc = check_json(guest.root)
    assert rc == 1 and kernel_entry(third, kver)["initramfs"]["cached"] is False
    fourth, _ = check_json(guest.root, "--no-cache")
    assert kernel_entry(fourth, kver)["initramfs"]["cached"] is False
