"""Guests older than Python 3.6, served offline (``--root`` from a helper machine): CentOS 6/7, SLES 11/12,
Ubuntu 14.04/16.04, Debian 8/9. Trees made from their recorded real files (tests/oldguests.py,
provenance in tests/data/SOURCES.md): ``check`` must name what breaks on KVM with file and line, and
``fix --dry-run`` must plan the distro's own way to fix it and change nothing."""

import hashlib
import json
import os
import re

import pytest
from conftest import check_json, run_imsprep
from fakeguest import compress, make_cpio
from oldguests import GUESTS, blkid, build, recorded
from test_fix_plan import plan_for

from imsprep.facts.uuids import UuidResolver
from imsprep.fix.journal import Journal
from imsprep.fix.runner import apply_plan, finish_run, rollback, start_run
from imsprep.system import CommandResult

KVM_DRIVERS = ["virtio", "virtio_ring", "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net"]

# every finding each tree must produce: (code, file, line, targets); nothing else but SEAL_PENDING
EXPECTED = {
    "centos-6": {("DEVICE_NAME_UNSTABLE", "/boot/grub/grub.conf", 7, ("kvm",)),
                 ("DRIVER_NOT_IN_INITRAMFS", "/boot/initramfs-2.6.32-573.8.1.el6.x86_64.img", None, ("kvm",)),
                 ("NIC_DRIVER_NOT_IN_INITRAMFS", "/boot/initramfs-2.6.32-573.8.1.el6.x86_64.img", None, ("kvm",)),
                 ("NET_MAC_PINNED", "/etc/sysconfig/network-scripts/ifcfg-eth0", 7, ("kvm", "xen")),
                 ("NET_STATIC_ADDRESS", "/etc/sysconfig/network-scripts/ifcfg-eth0", 6, ("kvm", "xen")),
                 ("NET_PERSISTENT_RULES", "/etc/udev/rules.d/70-persistent-net.rules", None, ("kvm", "xen")),
                 ("KERNEL_CONFIG_MISSING", None, None, ("kvm", "xen"))},
    "centos-7": {("DEVICE_NAME_UNSTABLE", "/boot/grub2/grub.cfg", 14, ("kvm",)),
                 ("DRIVER_NOT_IN_INITRAMFS", "/boot/initramfs-3.10.0-229.el7.x86_64.img", None, ("kvm",)),
                 ("NIC_DRIVER_NOT_IN_INITRAMFS", "/boot/initramfs-3.10.0-229.el7.x86_64.img", None, ("kvm",)),
                 ("DRIVERS_NOT_PERSISTENT", "/etc/dracut.conf", None, ("kvm",)),
                 ("DRIVERS_NOT_PERSISTENT", "/etc/dracut.conf", None, ("xen",)),
                 ("NET_MAC_PINNED", "/etc/sysconfig/network-scripts/ifcfg-eth0", 7, ("kvm", "xen")),
                 ("NET_STATIC_ADDRESS", "/etc/sysconfig/network-scripts/ifcfg-eth0", 3, ("kvm", "xen")),
                 ("NET_NAME_BOUND", "/etc/sysconfig/network-scripts/ifcfg-eth0", 5, ("kvm", "xen")),
                 ("NET_PERSISTENT_RULES", "/etc/udev/rules.d/70-persistent-net.rules", None, ("kvm", "xen"))},
    "sles-11": {("DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.vmx", None, ("kvm",)),
                ("NIC_DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.vmx", None, ("kvm",)),
                ("DRIVERS_NOT_PERSISTENT", "/etc/sysconfig/kernel", None, ("kvm",)),
                ("DRIVERS_NOT_PERSISTENT", "/etc/sysconfig/kernel", None, ("xen",))},
    "sles-12": {("DRIVER_NOT_IN_INITRAMFS", "/boot/initrd-4.4.21-69-default", None, ("kvm",)),
                ("DRIVERS_NOT_PERSISTENT", "/etc/dracut.conf", None, ("kvm",)),
                ("DRIVERS_NOT_PERSISTENT", "/etc/dracut.conf", None, ("xen",)),
                ("NIC_DRIVER_NOT_IN_INITRAMFS", "/boot/initrd-4.4.21-69-default", None, ("kvm",)),
                ("NO_BOOTLOADER_CONFIG", None, None, ("kvm", "xen"))},
    "ubuntu-14.04": {("DEVICE_NAME_UNSTABLE", "/boot/grub/grub.cfg", 14, ("kvm",)),
                     ("DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.img-3.13.0-24-generic", None, ("kvm",)),
                     ("NET_STATIC_ADDRESS", "/etc/network/interfaces", 5, ("kvm", "xen"))},
    "ubuntu-16.04": {("DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.img-4.4.0-21-generic", None, ("kvm",)),
                     ("NET_NAME_BOUND", "/etc/network/interfaces", 3, ("kvm", "xen")),
                     ("NET_NAME_BOUND", "/etc/network/interfaces", 4, ("kvm", "xen")),
                     ("NET_NAME_BOUND", "/etc/network/interfaces", 6, ("kvm", "xen")),
                     ("NET_NAME_BOUND", "/etc/network/interfaces", 7, ("kvm", "xen")),
                     ("NO_BOOTLOADER_CONFIG", None, None, ("kvm", "xen"))},
    "debian-8": {("DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.img-3.16.0-4-amd64", None, ("kvm",)),
                 ("NIC_DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.img-3.16.0-4-amd64", None, ("kvm",)),
                 ("NO_BOOTLOADER_CONFIG", None, None, ("kvm", "xen"))},
    "debian-9": {("DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.img-4.9.0-9-amd64", None, ("kvm",)),
                 ("NIC_DRIVER_NOT_IN_INITRAMFS", "/boot/initrd.img-4.9.0-9-amd64", None, ("kvm",)),
                 ("NO_BOOTLOADER_CONFIG", None, None, ("kvm", "xen"))},
}
DISTRO = {"centos-6": ("centos", "rhel", "6.7"), "centos-7": ("centos", "rhel", "7.1.1503"),
          "sles-11": ("sles", "suse", "11.4"), "sles-12": ("sles", "suse", "12.1"),
          "ubuntu-14.04": ("ubuntu", "debian", "14.04.3"), "ubuntu-16.04": ("ubuntu", "debian", "16.04.1"),
          "debian-8": ("debian", "debian", "8.2"), "debian-9": ("debian", "debian", "stretch/sid")}
# the bootloader the recorded files give, and the kernel its default entry loads
BOOT = {"centos-6": ("grub-legacy", "/boot/grub/grub.conf", "2.6.32-573.8.1.el6.x86_64"),
        "centos-7": ("grub2", "/boot/grub2/grub.cfg", "3.10.0-229.el7.x86_64"),
        "sles-11": ("grub-legacy", "/boot/grub/menu.lst", "3.0.76-0.11-default"),
        "ubuntu-14.04": ("grub2", "/boot/grub/grub.cfg", "3.13.0-24-generic")}
# what the KVM verdict must say is missing from the initramfs (Ubuntu's kernels have virtio built in)
MISSING = {"ubuntu-14.04": ["virtio_scsi"], "ubuntu-16.04": ["virtio_scsi"]}


def tree_digest(root):
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            digest.update(path.encode())
            if not os.path.islink(path):
                with open(path, "rb") as fh:
                    digest.update(fh.read())
    return digest.hexdigest()


@pytest.mark.parametrize("guest", GUESTS)
def test_check_names_what_breaks_on_kvm(tmp_path, guest):
    tree = build(guest, str(tmp_path / guest))
    report, rc = check_json(tree.root, rc=1)
    assert (report["distro"]["id"], report["distro"]["family"], report["distro"]["version"]) == DISTRO[guest]
    got = {(f["code"], f.get("file"), f.get("line"), tuple(f["targets"])) for f in report["findings"] if f["code"] != "SEAL_PENDING"}
    assert got == EXPECTED[guest]
    assert report["verdict"]["kvm"]["ready"] is False and report["verdict"]["xen"]["ready"] is True
    kernel = report["kernels"][0]
    missing = {d["name"] for d in kernel["targets"]["kvm"]["drivers"] if not d["ok"]}
    assert missing == set(MISSING.get(guest, KVM_DRIVERS[:-1]))  # virtio_net: a warning (NIC), not a boot failure
    if guest in BOOT:
        loader, source, kver = BOOT[guest]
        assert report["boot"]["loader"] == loader and report["boot"]["files"] == [source]
        assert report["default_kernel"] == kver
    else:
        assert report["boot"]["loader"] is None and report["default_kernel"] is None


def test_centos6_legacy_grub_root_device(tmp_path):
    """The XEN guest's anaconda grub.conf: root=/dev/xvda2 is the kernel name, reported with its line."""
    tree = build("centos-6", str(tmp_path / "c6"))
    report, _ = check_json(tree.root)
    finding = next(f for f in report["findings"] if f["code"] == "DEVICE_NAME_UNSTABLE")
    line = recorded("centos-6", "/boot/grub/grub.conf").splitlines()[finding["line"] - 1]
    assert "root=/dev/xvda2" in line and "/dev/xvda2" in finding["message"]
    assert {(r["file"], r["device"]) for r in report["device_refs"]} == {("/boot/grub/grub.conf", "/dev/xvda2")}
    # 2.6.32 has no modules.builtin (it came with 2.6.33) and this tree no config: said, not guessed
    assert any(f["code"] == "KERNEL_CONFIG_MISSING" for f in report["findings"])


def test_centos6_dracut_is_not_called_host_only(tmp_path):
    """RHEL 6's dracut 004 builds generic images unless told otherwise: no 'host-only by default' warning
    (it is there for CentOS 7, whose 01-dist.conf says hostonly="yes")."""
    c6, _ = check_json(build("centos-6", str(tmp_path / "c6")).root)
    c7, _ = check_json(build("centos-7", str(tmp_path / "c7")).root)
    assert not [f for f in c6["findings"] if f["code"] == "DRIVERS_NOT_PERSISTENT"]
    assert c6["generator"]["hostonly"] is None and c7["generator"]["hostonly"] is True
    assert "hostonly=yes" in next(f for f in c7["findings"] if f["code"] == "DRIVERS_NOT_PERSISTENT")["message"]


@pytest.mark.parametrize("guest", ["centos-6", "ubuntu-14.04"])
def test_eth0_is_kept_by_udev_of_that_age(tmp_path, guest):
    """udev of CentOS 6 and Ubuntu 14.04 has no predictable names: ifcfg-eth0 / 'iface eth0' are not bound to
    a name the NIC will lose (the MAC pinning is reported, by NET_PERSISTENT_RULES/NET_MAC_PINNED)."""
    report, _ = check_json(build(guest, str(tmp_path / guest)).root)
    assert not [f for f in report["findings"] if f["code"] == "NET_NAME_BOUND"]
    assert not [f for f in report["findings"] if "ens3" in f["message"]]


def test_sles11_kiwi_vmx_layout(tmp_path):
    """SLES 11 SP4 image with KIWI's menu.lst: kernel /boot/linux.vmx and initrd /boot/initrd.vmx are links
    to vmlinuz-/initrd-<kver>. The kernel is the installed one (no phantom 'not installed' kernel), the image
    judged is the one the entry loads, and the remedy is INITRD_MODULES + mkinitrd."""
    tree = build("sles-11", str(tmp_path / "s11"))
    assert os.readlink(tree.path("/boot/linux.vmx")) == "vmlinuz-3.0.76-0.11-default"
    report, _ = check_json(tree.root)
    assert not [f for f in report["findings"] if f["code"] == "DEFAULT_KERNEL_NOT_INSTALLED"]
    assert report["boot"]["default"]["title"] == "sles11sp4_001_[_VMX_]"
    assert report["kernels"][0]["initramfs"]["path"] == "/boot/initrd.vmx"
    assert report["generator"]["active"] == "suse-mkinitrd" and report["generator"]["config_files"] == ["/etc/sysconfig/kernel"]
    blocking = next(f for f in report["findings"] if f["code"] == "DRIVER_NOT_IN_INITRAMFS")
    assert "INITRD_MODULES in /etc/sysconfig/kernel" in blocking["remediation"]
    assert "mkinitrd -k /boot/vmlinuz-3.0.76-0.11-default -i /boot/initrd.vmx" in blocking["remediation"]


def fix_dry_run(root):
    before = tree_digest(root)
    proc = run_imsprep("fix", "--root", root, "--dry-run", "--format", "json")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    assert tree_digest(root) == before  # a dry run changes nothing
    assert not os.path.exists(os.path.join(root, "var/lib/imsprep"))
    return json.loads(proc.stdout.decode())


def diff_of(result, summary_start):
    return next(a["diff"] for a in result["plan"]["actions"] if a["summary"].startswith(summary_start))


def test_fix_dry_run_centos6(tmp_path):
    tree = build("centos-6", str(tmp_path / "c6"))
    result = fix_dry_run(tree.root)
    assert [a["kind"] for a in result["plan"]["actions"]] == ["edit-file", "delete-file", "edit-file", "rebuild-initramfs"]
    dropin = diff_of(result, "create /etc/dracut.conf.d/90-imsprep.conf")
    assert '+add_drivers+=" virtio virtio_ring virtio_pci virtio_blk virtio_scsi virtio_net xen_blkfront xen_netfront "' in dropin
    ifcfg = diff_of(result, "edit /etc/sysconfig/network-scripts/ifcfg-eth0")
    assert "-HWADDR=00:0c:29:2c:AC:E3" in ifcfg and "+BOOTPROTO=dhcp" in ifcfg and "-IPADDR=192.168.122.43" in ifcfg
    assert result["plan"]["actions"][1]["summary"].startswith("delete /etc/udev/rules.d/70-persistent-net.rules")
    # udev 147 names NICs ethN whatever the command line says: no net.ifnames=0 for CentOS 6
    assert "net.ifnames=0" not in json.dumps(result["plan"])
    # offline, the root file system's UUID is unknown: said, and grub.conf is left alone
    assert any("/boot/grub/grub.conf:7: /dev/xvda2 stays" in p and "UUID is unknown" in p for p in result["plan"]["problems"])
    assert not [a for a in result["plan"]["actions"] if "grub.conf" in a["summary"]]


@pytest.mark.parametrize("guest,config,after", [("centos-6", "/boot/grub/grub.conf", "/_grub.conf.after"),
                                                ("centos-7", "/boot/grub2/grub.cfg", "/_grub.cfg.after"),
                                                ("ubuntu-14.04", "/boot/grub/grub.cfg", "/_grub.cfg.after")])
def test_root_device_rewritten_as_the_reference_procedure_does(tmp_path, mocker, guest, config, after):
    """Where the UUID can be resolved (here: the source guest's recorded blkid output, as a mounted
    image would give it), the kernel line gets root=UUID=<that UUID>: the line the IMS procedure's own
    edited file shows."""
    tree = build(guest, str(tmp_path / guest))
    uuids = blkid(guest)
    mocker.patch.object(UuidResolver, "resolve", lambda self, device, mountpoint: (
        (uuids[device], "blkid (recorded)") if device in uuids else (None, "not recorded")))
    _, _, plan = plan_for(tree.root)
    edit = next(a for a in plan.actions if getattr(a, "path", None) == config)
    def roots(text):
        return [re.search(r" root=(\S+)", line).group(1) for line in text.splitlines()
                if line.split()[:1] in (["kernel"], ["linux"], ["linux16"]) and " root=" in line]
    expected, written = roots(recorded(guest, after)), roots(edit.new)
    assert written == expected and expected and all(w.startswith("UUID=") for w in written)


def test_fix_dry_run_sles11_initrd_modules_and_mkinitrd(tmp_path):
    tree = build("sles-11", str(tmp_path / "s11"))
    result = fix_dry_run(tree.root)
    assert [a["kind"] for a in result["plan"]["actions"]] == ["edit-file", "rebuild-initramfs"]
    sysconfig = diff_of(result, "edit /etc/sysconfig/kernel")
    assert '-INITRD_MODULES=""' in sysconfig
    assert '+INITRD_MODULES="virtio virtio_ring virtio_pci virtio_blk virtio_scsi virtio_net xen_blkfront xen_netfront"' in sysconfig
    assert "DOMU_INITRD_MODULES" not in sysconfig  # left as it is
    _, facts, plan = plan_for(tree.root)
    rebuild = plan.actions[1]
    # the file KIWI's /boot/initrd.vmx links to is rebuilt; the link stays
    assert rebuild.image == "/boot/initrd-3.0.76-0.11-default"
    assert rebuild.command() == ["mkinitrd", "-k", "/boot/vmlinuz-3.0.76-0.11-default", "-i",
                                 "/boot/initrd-3.0.76-0.11-default.imsprep-new"]


def test_sles11_fix_keeps_kiwi_links_and_rolls_back(tmp_path, mocker):
    """fix on the SLES 11 KIWI tree with mkinitrd simulated (it writes a real cpio image holding the
    modules; SUSE's mkinitrd cannot run here): initrd.vmx is still the link and now loads virtio,
    check says KVM ready; rollback restores /etc/sysconfig/kernel and the old image."""
    tree = build("sles-11", str(tmp_path / "s11"))
    kver = "3.0.76-0.11-default"
    with open(tree.path("/boot/initrd-%s" % kver), "rb") as fh:
        old_image = fh.read()
    system, _, plan = plan_for(tree.root)

    def fake_run(argv, **kwargs):
        if argv[0] == "mkinitrd":
            paths = ["init"] + ["lib/modules/%s/kernel/drivers/%s" % (kver, p) for p in (
                "virtio/virtio.ko", "virtio/virtio_ring.ko", "virtio/virtio_pci.ko", "block/virtio_blk.ko",
                "scsi/virtio_scsi.ko", "net/virtio_net.ko", "block/xen-blkfront.ko", "net/xen-netfront.ko")]
            with open(system.host_path(argv[-1]), "wb") as fh:
                fh.write(compress(make_cpio(paths), "gzip"))
        return CommandResult(argv, 0, b"", b"")

    mocker.patch.object(system, "run", side_effect=fake_run)
    journal = start_run(system, progress=lambda m: None)
    outcome = apply_plan(system, plan, journal, progress=lambda m: None)
    finish_run(journal, outcome)
    assert outcome.failed == []
    assert os.readlink(tree.path("/boot/initrd.vmx")) == "initrd-%s" % kver
    report, rc = check_json(tree.root)
    assert report["kernels"][0]["initramfs"]["path"] == "/boot/initrd.vmx"
    assert report["verdict"]["kvm"]["ready"] is True and rc == 0
    rollback(system, Journal.last(system), progress=lambda m: None)
    assert recorded("sles-11", "/etc/sysconfig/kernel") == open(tree.path("/etc/sysconfig/kernel")).read()
    with open(tree.path("/boot/initrd-%s" % kver), "rb") as fh:
        assert fh.read() == old_image
    assert os.readlink(tree.path("/boot/initrd.vmx")) == "initrd-%s" % kver


@pytest.mark.parametrize("guest", ["centos-7", "sles-12"])
def test_fix_dry_run_dracut_dropin(tmp_path, guest):
    tree = build(guest, str(tmp_path / guest))
    result = fix_dry_run(tree.root)
    dropin = diff_of(result, "create /etc/dracut.conf.d/90-imsprep.conf")
    assert "+add_drivers+=\" virtio virtio_ring virtio_pci virtio_blk virtio_scsi virtio_net xen_blkfront xen_netfront \"" in dropin
    rebuild = [a for a in result["plan"]["actions"] if a["kind"] == "rebuild-initramfs"]
    assert len(rebuild) == 1 and "with dracut" in rebuild[0]["summary"]


@pytest.mark.parametrize("guest,modules", [("ubuntu-14.04", ["virtio_scsi"]), ("ubuntu-16.04", ["virtio_scsi"]),
                                           ("debian-8", KVM_DRIVERS + ["xen_blkfront", "xen_netfront"]),
                                           ("debian-9", KVM_DRIVERS + ["xen_blkfront", "xen_netfront"])])
def test_fix_dry_run_initramfs_tools_modules(tmp_path, guest, modules):
    tree = build(guest, str(tmp_path / guest))
    result = fix_dry_run(tree.root)
    listed = [line[1:] for line in diff_of(result, "create /etc/initramfs-tools/modules").splitlines()
              if line.startswith("+") and not line.startswith(("+++", "+#"))]
    assert listed == modules
    rebuild = [a for a in result["plan"]["actions"] if a["kind"] == "rebuild-initramfs"]
    assert len(rebuild) == 1 and "with initramfs-tools" in rebuild[0]["summary"]


def test_check_of_an_rpm_guest_writes_nothing_into_it(tmp_path):
    """This machine's rpm (Debian's looks in ~/.rpmdb) used to be run with --root only: it read no guest
    database and created /root/.rpmdb/rpmdb.sqlite in the guest. rpm is now pointed at the guest's own
    database and not run where there is none (these trees have an empty /var/lib/rpm)."""
    tree = build("centos-7", str(tmp_path / "c7"))
    before = tree_digest(tree.root)
    report, _ = check_json(tree.root)
    assert tree_digest(tree.root) == before and not os.path.exists(tree.path("/root/.rpmdb"))
    assert report["packages_error"].startswith("no rpm database")


def test_sles11_yast_menu_lst_entry(tmp_path):
    """The YaST-written SLES 11 entry (recorded alone, no default/timeout lines): the first entry is the
    default, its root=UUID= needs nothing, its initrd-<kver> is the image judged."""
    tree = build("sles-11", str(tmp_path / "s11"))
    tree.write("/boot/grub/menu.lst", recorded("sles-11", "/_menu.lst.yast-entry"))
    report, rc = check_json(tree.root, rc=1)
    assert report["boot"]["default"]["title"] == "SUSE Linux Enterprise Server 11SP4 - 3.0.76-0.11 (default)"
    assert report["default_kernel"] == "3.0.76-0.11-default"
    assert report["kernels"][0]["initramfs"]["path"] == "/boot/initrd-3.0.76-0.11-default"
    assert report["device_refs"] == [] and not [f for f in report["findings"] if f["code"] == "DEVICE_NAME_UNSTABLE"]


def test_kiwi_links_that_leave_boot_are_not_followed(tmp_path):
    """Hostile variants of the KIWI layout, links aimed out of /boot. A kernel link naming no installed
    kernel stays what it is (the entry's kernel is reported as not installed); an initrd link to
    /etc/shadow is not the file a rebuild writes."""
    tree = build("sles-11", str(tmp_path / "kernel"))
    os.unlink(tree.path("/boot/linux.vmx"))
    tree.symlink("/boot/linux.vmx", "../etc/passwd")
    tree.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    report, _ = check_json(tree.root, rc=1)
    assert any(f["code"] == "DEFAULT_KERNEL_NOT_INSTALLED" for f in report["findings"])
    assert report["boot"]["default"]["kernel"] == "/boot/linux.vmx"

    tree = build("sles-11", str(tmp_path / "initrd"))
    os.unlink(tree.path("/boot/initrd.vmx"))
    tree.symlink("/boot/initrd.vmx", "/etc/shadow")
    tree.write("/etc/shadow", "root:*:16000::::::\n")
    _, facts, plan = plan_for(tree.root)
    assert facts.initramfs["3.0.76-0.11-default"].path == "/boot/initrd.vmx"
    rebuild = next(a for a in plan.actions if a.kind == "rebuild-initramfs")
    assert rebuild.image == "/boot/initrd.vmx" and "/etc/shadow" not in " ".join(rebuild.command())


def test_fix_dry_run_centos7_ifcfg_drops_every_static_address(tmp_path):
    """The cloud-init-written ifcfg-eth0 of a real EL7 server carries a second address (IPADDR1/NETMASK1/
    PREFIX1) and a static IPv6 address and gateway: none of them is right on a new instance. DHCP stays,
    the rest of the file too."""
    tree = build("centos-7", str(tmp_path / "c7"))
    result = fix_dry_run(tree.root)
    diff = diff_of(result, "edit /etc/sysconfig/network-scripts/ifcfg-eth0")
    removed = sorted(line[1:].split("=", 1)[0] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert removed == ["BOOTPROTO", "GATEWAY", "HWADDR", "IPADDR", "IPADDR1", "IPV6ADDR", "IPV6_DEFAULTGW",
                       "NETMASK", "NETMASK1", "PREFIX", "PREFIX1"]
    assert added == ["BOOTPROTO=dhcp"]
