"""Fix plans on small trees, and the edges that cannot run here for real (SUSE mkinitrd, rpm),
mocked at the command: the plan, the commands in order, the journal, the rollback."""

import json
import os

from conftest import check_json, run_imsprep
from fakeguest import KVM_MODULES_61, XEN_MODULES, FakeGuest, compress, make_cpio
from test_check_fake import debian_guest

from imsprep.facts import gather
from imsprep.fix.journal import Journal
from imsprep.fix.plan import build_plan
from imsprep.fix.runner import apply_plan, finish_run, rollback, start_run
from imsprep.knowledge import Knowledge
from imsprep.rules import assess
from imsprep.system import CommandResult, System


def plan_for(root, targets=("kvm", "xen")):
    system = System(root)
    facts = gather(system, Knowledge())
    assessment = assess(facts, list(targets))
    return system, facts, build_plan(facts, assessment)


def test_modprobe_rules_disabled_and_restored(tmp_path):
    guest, kver = debian_guest(tmp_path / "g")
    original = "# left by a PV suite\nblacklist xen_blkfront\ninstall virtio_blk /bin/true\nblacklist pcspkr\n"
    guest.write("/etc/modprobe.d/pv.conf", original)
    _, _, plan = plan_for(guest.root)
    assert [a.kind for a in plan.actions] == ["edit-file"]
    assert "-blacklist xen_blkfront" in plan.actions[0].diff() and "+# imsprep: disabled" in plan.actions[0].diff()
    assert "pcspkr" not in plan.actions[0].diff().replace(" blacklist pcspkr", "")
    run_imsprep("fix", "--root", guest.root, "--yes", check_rc=0)
    with open(guest.path("/etc/modprobe.d/pv.conf")) as fh:
        text = fh.read()
    assert "# imsprep: disabled, blocks a native XEN/KVM driver: blacklist xen_blkfront" in text and "\nblacklist pcspkr\n" in text
    report, rc = check_json(guest.root)
    assert rc == 0 and report["modprobe_rules"][0]["module"] == "pcspkr"
    _, _, again = plan_for(guest.root)
    assert again.actions == []
    run_imsprep("rollback", "--root", guest.root, "--yes", check_rc=0)
    with open(guest.path("/etc/modprobe.d/pv.conf")) as fh:
        assert fh.read() == original


def test_ready_guest_needs_nothing(tmp_path):
    guest, _ = debian_guest(tmp_path / "g")
    proc = run_imsprep("fix", "--root", guest.root, "--yes", "--format", "json", check_rc=0)
    result = json.loads(proc.stdout)
    assert result["plan"]["actions"] == [] and result["applied"] is None
    assert not os.path.exists(guest.path("/var/lib/imsprep/runs"))


def test_no_generator_is_a_clear_problem(tmp_path):
    guest = FakeGuest(tmp_path / "g")
    guest.os_release("cloud-init_centos-7")
    guest.kernel("debian-12-bookworm-6.1.0-50-x86_64", kver="6.1.0-50-amd64")
    proc = run_imsprep("fix", "--root", guest.root, "--yes")
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    assert b"cannot fix: no initramfs generator" in proc.stdout


SLES11_KERNEL = """# SLES 11 SP4 style /etc/sysconfig/kernel (excerpt)
## Path:	System/Kernel
## Description:
## Type:	string
## Command:	/sbin/mkinitrd
#
# This variable contains the list of modules to be added to the initial
# ramdisk by calling the script "mkinitrd"
#
INITRD_MODULES="processor thermal ata_piix ata_generic xen_vbd"

## Type:	string
DOMU_INITRD_MODULES="xennet xenblk"
"""


def sles11_guest(root):
    guest = FakeGuest(root)
    guest.os_release("ansible_sles_11.4")
    guest.executable("/sbin/mkinitrd")
    guest.write("/etc/sysconfig/kernel", SLES11_KERNEL)
    os.makedirs(guest.path("/var/lib/rpm"))
    kver = guest.kernel("debian-12-bookworm-6.1.0-50-x86_64", kver="3.0.101-63-default")
    guest.initramfs(kver, ["ext3", "ata_piix"], path="/boot/initrd-%s" % kver)
    guest.write("/boot/grub/menu.lst", "default 0\ntimeout 8\ntitle SUSE Linux Enterprise Server 11 SP4 - 3.0.101-63\n"
                "    root (hd0,1)\n    kernel /boot/vmlinuz-3.0.101-63-default root=/dev/disk/by-id/ata-VBOX_HARDDISK-part2 "
                "resume=/dev/xvda1 splash=silent showopts\n    initrd /boot/initrd-3.0.101-63-default\n")
    return guest, kver


def test_suse_mkinitrd_plan_and_rebuild(tmp_path, mocker):
    """SLES 11 with mkinitrd: INITRD_MODULES gains the drivers, mkinitrd -k/-i builds the image
    (simulated: the command writes a real cpio image with the modules), it is verified and swapped."""
    guest, kver = sles11_guest(tmp_path / "g")
    system, facts, plan = plan_for(guest.root)
    assert facts.generator.active == "suse-mkinitrd"
    kinds = [a.kind for a in plan.actions]
    assert kinds == ["edit-file", "rebuild-initramfs"]
    edit = plan.actions[0]
    assert 'INITRD_MODULES="processor thermal ata_piix ata_generic xen_vbd virtio virtio_ring' in edit.new
    assert 'DOMU_INITRD_MODULES="xennet xenblk"' in edit.new
    rebuild = plan.actions[1]
    assert rebuild.image == "/boot/initrd-%s" % kver
    assert rebuild.command() == ["mkinitrd", "-k", "/boot/vmlinuz-%s" % kver, "-i", "/boot/initrd-%s.imsprep-new" % kver]

    calls = []

    def fake_run(argv, **kwargs):
        calls.append(list(argv))
        if argv[0] == "mkinitrd":
            image = compress(make_cpio(["init"] + guest.module_paths(kver, KVM_MODULES_61 + XEN_MODULES + ["ext3"])), "gzip")
            with open(system.host_path(argv[-1]), "wb") as fh:
                fh.write(image)
        return CommandResult(argv, 0, b"", b"")

    mocker.patch.object(system, "run", side_effect=fake_run)
    journal = start_run(system, progress=lambda m: None)
    outcome = apply_plan(system, plan, journal, progress=lambda m: None)
    finish_run(journal, outcome)
    assert outcome.failed == [] and rebuild.command() in calls
    report, rc = check_json(guest.root)
    assert report["kernels"][0]["targets"]["kvm"]["ready"]
    rollback(system, Journal.last(system), progress=lambda m: None)
    with open(guest.path("/etc/sysconfig/kernel")) as fh:
        assert fh.read() == SLES11_KERNEL


RPM_QA = (b"kernel 3.10.0-862.14.1.5.h428.eulerosv2r7\nkmod-uvpmod 2.5.0.146-1\nuvp-monitor 2.5.0.146-1\n"
          b"libxenstore_uvp3 3.0-1\nbash 4.2.46-34.h6\n")


def test_rpm_suite_removal_order_and_rollback(tmp_path, mocker):
    """An EulerOS guest with the rpm-installed UVP variant and no uninstall script: rpm -e in the
    documented order, kept .rpm files reinstalled on rollback (rpm mocked: not runnable here)."""
    guest, kver = debian_guest(tmp_path / "g")
    guest.os_release("mql_euleros-2")
    os.unlink(guest.path("/var/lib/dpkg/status"))
    guest.write("/var/lib/rpm/Packages", b"")  # rpm is mocked; its database only has to be there
    guest.executable("/usr/bin/uvp-monitor")
    guest.write("/var/cache/yum/x86_64/2.0/packages/uvp-monitor-2.5.0.146-1.x86_64.rpm", b"rpm")
    system = System(guest.root)
    calls = []
    removed = set()

    def fake_run(argv, **kwargs):
        calls.append(list(argv))
        if "-qa" in argv:
            return CommandResult(argv, 0, RPM_QA, b"")
        if argv[:2] == ["rpm", "-q"]:
            return CommandResult(argv, 1 if argv[2] in removed else 0, b"", b"")
        if argv[:2] == ["rpm", "-e"]:
            removed.update(argv[2:])
        return CommandResult(argv, 0, b"", b"")

    mocker.patch.object(System, "host_which", return_value="/usr/bin/rpm")
    mocker.patch.object(system, "run", side_effect=fake_run)
    facts = gather(system, Knowledge())
    plan = build_plan(facts, assess(facts, ["kvm", "xen"]))
    suite = plan.actions[0]
    assert suite.kind == "remove-suite" and suite.uninstaller is None
    assert [n for n, _ in suite.packages] == ["kmod-uvpmod", "uvp-monitor", "libxenstore_uvp3"]
    journal = start_run(system, progress=lambda m: None)
    outcome = apply_plan(system, plan.only([suite]), journal, progress=lambda m: None)
    finish_run(journal, outcome)
    assert outcome.failed == []
    assert ["rpm", "-e", "kmod-uvpmod", "uvp-monitor", "libxenstore_uvp3"] in calls
    entry = next(e for e in Journal.last(system).entries() if e["op"] == "packages-removed")
    assert entry["saved"] == {"uvp-monitor": "%s/packages/uvp-monitor-2.5.0.146-1.x86_64.rpm" % journal.directory}
    rollback(system, Journal.last(system), progress=lambda m: None)
    assert any(c[:3] == ["rpm", "-i", "--replacepkgs"] for c in calls)
    assert os.path.exists(guest.path("/usr/bin/uvp-monitor"))


# Debian 12's /etc/initramfs-tools/modules (initramfs-tools 0.142) with the lines a XEN guest's admin added
ITOOLS_MODULES_XEN = """# List of modules that you want to include in your initramfs.
# They will be loaded at boot time in the order below.
#
# Syntax:  module_name [args ...]
#
# You must run update-initramfs(8) to effect this change.
#
# Examples:
#
# raid1
# sd_mod
xen-blkfront
xen-netfront  # the PV NIC
"""


def _generator_edit(plan, path):
    return next(a for a in plan.actions if a.kind == "edit-file" and a.path == path)


def test_itools_managed_block_leaves_out_what_the_guest_lists(tmp_path):
    """One name per driver: the guest's xen-blkfront is not repeated as xen_blkfront in the block."""
    guest, kver = debian_guest(tmp_path / "g", modules=["ext4"] + XEN_MODULES)
    guest.write("/etc/initramfs-tools/modules", ITOOLS_MODULES_XEN)
    _, _, plan = plan_for(guest.root)
    edit = _generator_edit(plan, "/etc/initramfs-tools/modules")
    assert edit.new.startswith(ITOOLS_MODULES_XEN)
    block = edit.new[len(ITOOLS_MODULES_XEN):]
    listed = [line for line in block.splitlines() if not line.startswith("#")]
    assert "virtio_blk" in listed and "virtio_net" in listed
    assert "xen_blkfront" not in listed and "xen_netfront" not in listed
    folded = [line.split("#")[0].split()[0].replace("-", "_") for line in edit.new.splitlines() if line.split("#")[0].strip()]
    assert len(folded) == len(set(folded)), folded
    # planned again on the edited file: the same block, nothing to write
    guest.write("/etc/initramfs-tools/modules", edit.new)
    _, _, again = plan_for(guest.root)
    assert not any(a.kind == "edit-file" and a.path == "/etc/initramfs-tools/modules" for a in again.actions)


def test_dracut_dropin_leaves_out_what_the_guest_adds(tmp_path):
    from imsprep.fix.plan import _plan_generator_config
    from imsprep.generators.dracut import Dracut

    DRACUT_DROPIN = Dracut.dropin

    guest, kver = debian_guest(tmp_path / "g", modules=["ext4"])
    guest.executable("/usr/bin/dracut")
    guest.dpkg([("dracut", "059-4"), ("linux-image-6.1.0-50-amd64", "6.1.176-1")])
    os.remove(guest.path("/usr/sbin/mkinitramfs"))
    os.remove(guest.path("/usr/sbin/update-initramfs"))
    guest.write("/etc/dracut.conf.d/10-xen.conf", 'add_drivers+=" xen-blkfront xen-netfront "\n')
    system = System(guest.root)
    facts = gather(system, Knowledge())
    assert facts.generator.active == "dracut"
    action = _plan_generator_config(facts, "dracut", ["virtio_blk", "virtio_net", "xen_blkfront", "xen_netfront"])
    assert action.path == DRACUT_DROPIN and 'add_drivers+=" virtio_blk virtio_net "' in action.new
    guest.write("/etc/dracut.conf.d/10-kvm.conf", 'force_drivers+=" virtio-blk virtio_net "\n')
    assert _plan_generator_config(gather(System(guest.root), Knowledge()), "dracut",
                                  ["virtio_blk", "virtio_net", "xen_blkfront", "xen_netfront"]) is None


def xe_guest(root):
    """A ready Debian guest with the XenServer agent installed (dpkg status and its daemon)."""
    guest, kver = debian_guest(root)
    guest.dpkg([("initramfs-tools", "0.142+deb12u1"), ("linux-image-6.1.0-50-amd64", "6.1.176-1"),
                ("xe-guest-utilities", "7.20.2-0ubuntu1")])
    guest.executable("/usr/sbin/xe-daemon")
    return guest


def test_fix_plans_no_suite_removal_check_did_not_report(tmp_path):
    """pv_suites.json: xe-guest-utilities blocks KVM only. check --target xen reports nothing, so fix
    --target xen must plan nothing; for KVM check reports PV_SUITE_BLOCKS and fix answers it."""
    guest = xe_guest(tmp_path / "g")
    report, rc = check_json(guest.root, "--target", "xen")
    assert rc == 0 and [f["code"] for f in report["findings"] if f["code"].startswith("PV_")] == []
    _, _, plan = plan_for(guest.root, targets=("xen",))
    assert [a.kind for a in plan.actions] == []
    assert any("Citrix/XenServer guest utilities is left alone" in n for n in plan.notes)
    proc = run_imsprep("fix", "--root", guest.root, "--target", "xen", "--dry-run")
    assert b"dpkg --purge" not in proc.stdout + proc.stderr and proc.returncode == 0
    report, rc = check_json(guest.root, "--target", "kvm")
    assert rc == 1 and [f["code"] for f in report["findings"] if f["blocking"]] == ["PV_SUITE_BLOCKS"]
    _, _, plan = plan_for(guest.root, targets=("kvm",))
    assert [(a.kind, a.findings) for a in plan.actions] == [("remove-suite", ["PV_SUITE_BLOCKS"])]
    assert "dpkg --purge xe-guest-utilities" in plan.actions[0].summary()
    proc = run_imsprep("fix", "--root", guest.root, "--target", "kvm", "--dry-run", "--format", "json")
    result = json.loads(proc.stdout)
    assert [a["findings"] for a in result["plan"]["actions"]] == [["PV_SUITE_BLOCKS"]]
    assert b"answers: PV_SUITE_BLOCKS" in proc.stderr


def test_every_planned_action_names_its_findings(tmp_path):
    """A guest that needs several kinds of change: each action names codes check reported."""
    guest, kver = debian_guest(tmp_path / "g", modules=[])
    guest.write("/etc/modprobe.d/pv.conf", "blacklist xen_blkfront\n")
    guest.write("/etc/fstab", "/dev/xvda1 / ext4 defaults 0 1\n")
    system, facts, plan = plan_for(guest.root)
    reported = {f.code for f in assess(facts, ["kvm", "xen"]).findings}
    assert len(plan.actions) >= 3
    for action in plan.actions:
        assert action.findings and set(action.findings) <= reported, (action.summary(), action.findings, reported)
    kinds = {a.kind: a.findings for a in plan.actions}
    assert "MODPROBE_BLOCKS_DRIVER" in kinds["edit-file"] or any(
        a.findings == ["MODPROBE_BLOCKS_DRIVER"] for a in plan.actions)
    assert any(c.startswith("DRIVER_NOT_IN_INITRAMFS") for c in kinds["rebuild-initramfs"])


def dracut_guest(root):
    guest, kver = debian_guest(root, modules=["ext4"])
    guest.executable("/usr/bin/dracut")
    guest.dpkg([("dracut", "059-4"), ("linux-image-6.1.0-50-amd64", "6.1.176-1")])
    os.remove(guest.path("/usr/sbin/mkinitramfs"))
    os.remove(guest.path("/usr/sbin/update-initramfs"))
    guest.write("/etc/dracut.conf.d/01-hostonly.conf", 'hostonly="yes"\n')
    return guest


def test_remedy_names_the_file_fix_writes(tmp_path):
    """The remedies (missing from the initramfs, not persistent) tell the user to edit the very file
    fix creates; they once said /etc/dracut.conf.d/imsprep.conf while fix wrote 90-imsprep.conf."""
    import re

    guest = dracut_guest(tmp_path / "g")
    report, rc = check_json(guest.root)
    remedies = {f["code"]: f["remediation"] for f in report["findings"]}
    assert rc == 1 and {"DRIVER_NOT_IN_INITRAMFS", "DRIVERS_NOT_PERSISTENT"} <= set(remedies), remedies
    _, _, plan = plan_for(guest.root)
    written = [a.path for a in plan.actions if a.kind == "edit-file" and a.path.startswith("/etc/dracut.conf.d/")]
    assert written == ["/etc/dracut.conf.d/90-imsprep.conf"]
    for code in ("DRIVER_NOT_IN_INITRAMFS", "DRIVERS_NOT_PERSISTENT"):
        assert re.findall(r"/etc/dracut\.conf\.d/[\w.-]+", remedies[code]) == written, remedies[code]
    # initramfs-tools: the same for the modules file (MODULES=dep makes persistence a finding)
    guest, _ = debian_guest(tmp_path / "d", modules=["ext4"])
    guest.write("/etc/initramfs-tools/initramfs.conf", "MODULES=dep\n")
    report, _ = check_json(guest.root)
    _, _, plan = plan_for(guest.root)
    written = [a.path for a in plan.actions if a.kind == "edit-file"]
    assert written == ["/etc/initramfs-tools/modules"]
    texts = [f["remediation"] for f in report["findings"] if f["code"] in ("DRIVER_NOT_IN_INITRAMFS", "DRIVERS_NOT_PERSISTENT")]
    assert len(texts) >= 2 and all(re.findall(r"/etc/initramfs-tools/[\w.-]+", t) == written for t in texts), texts


def test_fix_changes_no_network_setting_check_did_not_report(tmp_path):
    """[Match] Name=enX0 finds the NIC on XEN and none on KVM: NET_NAME_BOUND for KVM only. fix
    --target xen leaves the file alone (as it does a PV suite that harms only KVM)."""
    from test_network import NETWORKD_XEN, guest_with

    guest = guest_with(tmp_path, {"/etc/systemd/network/50-enX0.network": NETWORKD_XEN})
    _, facts, plan = plan_for(guest.root, targets=("xen",))
    assert [f.code for f in assess(facts, ["xen"]).findings if f.code.startswith("NET_")] == []
    assert plan.actions == [] and plan.problems == []
    _, _, plan = plan_for(guest.root, targets=("kvm",))
    assert [(a.path, a.findings) for a in plan.actions] == [("/etc/systemd/network/50-enX0.network", ["NET_NAME_BOUND"])]


def test_plan_order_is_declared_by_the_actions(tmp_path):
    """Each kind of action declares its place (suites, modprobe, devices, boot, network, generator
    drop-in, kernels): the plan is in that order, whatever order the actions were made in."""
    import random

    from imsprep.fix.actions import in_order

    guest, kver = debian_guest(tmp_path / "g", modules=[])  # the drivers are not in the initramfs: a rebuild
    guest.dpkg([("initramfs-tools", "0.142+deb12u1"), ("linux-image-6.1.0-50-amd64", "6.1.176-1"),
                ("xe-guest-utilities", "7.20.2-0ubuntu1")])
    guest.executable("/usr/sbin/xe-daemon")
    guest.write("/etc/modprobe.d/pv.conf", "blacklist virtio_blk\n")
    guest.write("/etc/fstab", "/dev/xvda1 / ext4 defaults 0 1\n")
    _, _, plan = plan_for(guest.root, targets=("kvm",))
    kinds = [a.kind for a in plan.actions]
    assert kinds[0] == "remove-suite" and kinds[-1] == "rebuild-initramfs", kinds
    assert "edit-file" in kinds
    phases = [a.phase for a in plan.actions]
    assert phases == sorted(phases)
    modprobe = kinds.index("edit-file")
    assert plan.actions[modprobe].path == "/etc/modprobe.d/pv.conf"
    for seed in range(20):
        shuffled = list(plan.actions)
        random.Random(seed).shuffle(shuffled)
        assert in_order(shuffled) == plan.actions
