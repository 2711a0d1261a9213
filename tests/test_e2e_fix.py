"""imsprep fix for real: debootstrapped guests made unbootable on KVM the way XEN-made images are,
fixed with `imsprep fix --root`, then booted under QEMU (TCG) with the root disk on virtio."""

import fcntl
import json
import os
import shutil
import subprocess

import guests
import pytest
from conftest import check_json, run_imsprep

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap") or not shutil.which("qemu-system-x86_64"),
                                 reason="needs root, debootstrap and qemu (tests/setup-deps.sh installs them)")]

ITOOLS_BOOT_ARGS = "rootdelay=5"
DRACUT_BOOT_ARGS = "rd.timeout=40 rd.shell=0 rd.emergency=poweroff"


def fix(root, *extra, rc=None):
    proc = run_imsprep("fix", "--root", root, "--yes", "--format", "json", *extra, check_rc=rc)
    return json.loads(proc.stdout.decode()), proc


def boot(root, initrd, tmp_path, name, args):
    disk = guests.make_disk(root, str(tmp_path / (name + ".img")))
    kver = guests.kver_of(root)
    try:
        return guests.boot(os.path.join(root, "boot", "vmlinuz-" + kver), initrd, disk, str(tmp_path / (name + ".log")), args)
    finally:
        os.unlink(disk)


@pytest.fixture
def broken_itools(tmp_path):
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    guests.break_itools(root)
    reference = guests.clone_guest(guests.itools_guest(), str(tmp_path / "reference"))
    guests.break_itools(reference)
    return root, reference


def test_itools_guest_boots_on_virtio_only_after_fix(broken_itools, tmp_path):
    root, reference = broken_itools
    kver = guests.kver_of(root)
    image = os.path.join(root, "boot", "initrd.img-" + kver)
    report, rc = check_json(root)
    assert rc == 1 and not report["verdict"]["kvm"]["ready"]

    # dry run: the plan and its diff, and not one byte changed
    proc = run_imsprep("fix", "--root", root, "--dry-run", check_rc=1)
    out = proc.stdout.decode()
    assert "+virtio_blk" in out and "rebuild /boot/initrd.img-" + kver in out and "dry run: nothing was changed" in out
    assert guests.tree_differences(reference, root, exclude=()) == []

    booted, log, seconds = boot(root, image, tmp_path, "before", ITOOLS_BOOT_ARGS)
    assert not booted and "/dev/vda does not exist" in log

    result, proc = fix(root, rc=0)
    assert result["applied"]["failed"] == [] and len(result["applied"]["done"]) == 2
    assert result["report"]["verdict"]["kvm"]["ready"] and result["report"]["verdict"]["xen"]["ready"]
    with open(os.path.join(root, "etc", "initramfs-tools", "modules")) as fh:
        modules = fh.read()
    assert modules.count("# BEGIN imsprep") == 1 and "\nvirtio_blk\n" in modules and "\nxen_blkfront\n" in modules
    assert oct(os.stat(image).st_mode & 0o777) == oct(os.stat(os.path.join(reference, "boot", "initrd.img-" + kver)).st_mode & 0o777)

    booted, log, seconds = boot(root, image, tmp_path, "after", ITOOLS_BOOT_ARGS)
    assert booted, log[-2000:]
    assert guests.BOOT_MARKER + " /dev/vda / ext4" in log

    # a second fix changes nothing
    again, _ = fix(root, rc=0)
    assert again["plan"]["actions"] == [] and again["applied"] is None

    # rollback restores the pre-fix tree byte for byte (imsprep's own journal and log excepted)
    proc = run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    assert b"restore /boot/initrd.img-" in proc.stdout
    assert guests.tree_differences(reference, root) == []
    with open(os.path.join(root, "var", "log", "imsprep", "changes.log")) as fh:
        log_text = fh.read()
    assert "rebuilt /boot/initrd.img-%s" % kver in log_text and "rolled back" in log_text


def test_dracut_guest_boots_after_fix(tmp_path):
    root = guests.clone_guest(guests.dracut_guest(), str(tmp_path / "guest"))
    kver = guests.break_dracut(root)
    image = os.path.join(root, "boot", "initrd.img-" + kver)
    report, rc = check_json(root)
    assert rc == 1 and not report["verdict"]["kvm"]["ready"]
    booted, log, _ = boot(root, image, tmp_path, "before", DRACUT_BOOT_ARGS)
    assert not booted
    result, _ = fix(root, rc=0)
    actions = [a["summary"] for a in result["plan"]["actions"]]
    assert any(a.startswith("create /etc/dracut.conf.d/90-imsprep.conf") for a in actions)
    with open(os.path.join(root, "etc", "dracut.conf.d", "90-imsprep.conf")) as fh:
        assert 'add_drivers+=" virtio virtio_ring virtio_pci virtio_blk virtio_scsi virtio_net xen_blkfront xen_netfront "' in fh.read()
    booted, log, _ = boot(root, image, tmp_path, "after", DRACUT_BOOT_ARGS)
    assert booted, log[-2000:]
    again, _ = fix(root, rc=0)
    assert again["plan"]["actions"] == []


def test_generator_failure_keeps_the_old_image(broken_itools):
    root, reference = broken_itools
    kver = guests.kver_of(root)
    wrapper = os.path.join(root, "usr", "local", "sbin", "mkinitramfs")
    os.makedirs(os.path.dirname(wrapper), exist_ok=True)
    with open(wrapper, "w") as fh:
        fh.write("#!/bin/sh\necho 'E: simulated failure of mkinitramfs' >&2\nexit 1\n")
    os.chmod(wrapper, 0o755)
    result, proc = fix(root, rc=1)
    failed = result["applied"]["failed"]
    assert len(failed) == 1 and "simulated failure" in failed[0] and "old initramfs is kept" in failed[0]
    assert sorted(guests.tree_differences(reference, root)) == ["etc/initramfs-tools/modules", "usr/local/sbin/mkinitramfs"]
    assert not os.path.exists(os.path.join(root, "boot", "initrd.img-%s.imsprep-new" % kver))


def test_one_kernels_failure_does_not_undo_the_others(broken_itools):
    """Two kernels need a rebuild; the build of one fails: the other is still fixed, and both are reported."""
    root, _ = broken_itools
    old = guests.kver_of(root)
    tree, new = guests.kernel_tree("trixie")
    for name in ("vmlinuz-", "config-"):
        shutil.copyfile(os.path.join(tree, "boot", name + new), os.path.join(root, "boot", name + new))
    subprocess.run(["cp", "-al", os.path.join(tree, "usr", "lib", "modules", new), os.path.join(root, "lib", "modules", new)], check=True)
    wrapper = os.path.join(root, "usr", "local", "sbin", "mkinitramfs")
    os.makedirs(os.path.dirname(wrapper), exist_ok=True)
    with open(wrapper, "w") as fh:
        fh.write('#!/bin/sh\ncase "$*" in *%s*) echo "E: cannot build for %s" >&2; exit 1;; esac\nexec /usr/sbin/mkinitramfs "$@"\n' % (new, new))
    os.chmod(wrapper, 0o755)
    result, _ = fix(root, rc=1)
    assert len(result["applied"]["failed"]) == 1 and new in result["applied"]["failed"][0]
    kernels = {k["version"]: k for k in result["report"]["kernels"]}
    assert kernels[old]["targets"]["kvm"]["ready"] is True
    assert kernels[new]["targets"]["kvm"]["ready"] is False


def test_boot_too_small_refuses_before_any_change(broken_itools):
    root, reference = broken_itools
    boot_dir = os.path.join(root, "boot")
    saved = {name: open(os.path.join(boot_dir, name), "rb").read() for name in os.listdir(boot_dir)}
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "imsprep-small-boot", boot_dir], check=True)
    try:
        for name, data in saved.items():
            with open(os.path.join(boot_dir, name), "wb") as fh:
                fh.write(data)
        proc = run_imsprep("fix", "--root", root, "--yes", check_rc=2)
        assert b"not enough space on the filesystem holding /boot" in proc.stderr and b"nothing was changed" in proc.stderr
        assert b"Traceback" not in proc.stderr
        for name, data in saved.items():
            with open(os.path.join(boot_dir, name), "rb") as fh:
                assert fh.read() == data
    finally:
        subprocess.run(["umount", boot_dir], check=True)
    assert guests.tree_differences(reference, root, exclude=("var/lib/imsprep",)) == []


def test_second_fix_refuses_while_the_lock_is_held(broken_itools):
    root, _ = broken_itools
    os.makedirs(os.path.join(root, "var", "lib", "imsprep"), exist_ok=True)
    with open(os.path.join(root, "var", "lib", "imsprep", "lock"), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("pid 4242, 'imsprep fix', since 2026-11-27 03:00:00")
        fh.flush()
        proc = run_imsprep("fix", "--root", root, "--yes", check_rc=2)
    assert b"another imsprep run holds /var/lib/imsprep/lock (pid 4242, 'imsprep fix'" in proc.stderr


def test_no_terminal_and_no_yes_refuses(broken_itools):
    root, reference = broken_itools
    proc = subprocess.run(["python3", "-m", "imsprep", "fix", "--root", root], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 2 and b"refusing to change anything without --yes" in proc.stderr
    assert guests.tree_differences(reference, root, exclude=("var/lib/imsprep",)) == []


ROOT_UUID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
DATA_UUID = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"


def test_xen_device_names_become_uuids_and_boot_on_virtio(tmp_path):
    """The guest as imaged on XEN: fstab names /dev/xvda and /dev/xvdb. Fixed through --root on its
    loop-mounted disks, it boots under QEMU where they are /dev/vda and /dev/vdb, root found by UUID
    and /data mounted from fstab by UUID."""
    tree = guests.clone_guest(guests.itools_guest(), str(tmp_path / "tree"))
    kver = guests.break_itools(tree)
    guests.write_replacing(os.path.join(tree, "etc", "fstab"),
                           "/dev/xvda / ext4 errors=remount-ro 0 1\n/dev/xvdb /data ext4 defaults 0 2\n")
    os.makedirs(os.path.join(tree, "data"), exist_ok=True)
    root_img = guests.make_disk(tree, str(tmp_path / "root.img"), uuid=ROOT_UUID)
    data_img = str(tmp_path / "data.img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-U", DATA_UUID, "-L", "data", data_img, "16M"], check=True)
    mnt = str(tmp_path / "mnt")
    os.makedirs(mnt)
    subprocess.run(["mount", "-o", "loop", root_img, mnt], check=True)
    try:
        subprocess.run(["mount", "-o", "loop", data_img, os.path.join(mnt, "data")], check=True)
        try:
            report, rc = check_json(mnt)
            assert rc == 1 and {r["device"] for r in report["device_refs"]} == {"/dev/xvda", "/dev/xvdb"}
            result, _ = fix(mnt, rc=0)
            assert result["report"]["device_refs"] == []
            with open(os.path.join(mnt, "etc", "fstab")) as fh:
                assert fh.read() == "UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s /data ext4 defaults 0 2\n" % (ROOT_UUID, DATA_UUID)
            initrd = str(tmp_path / "initrd.img")
            shutil.copyfile(os.path.join(mnt, "boot", "initrd.img-" + kver), initrd)
        finally:
            subprocess.run(["umount", os.path.join(mnt, "data")], check=True)
    finally:
        subprocess.run(["umount", mnt], check=True)
    booted, log, _ = guests.boot(os.path.join(tree, "boot", "vmlinuz-" + kver), initrd, root_img, str(tmp_path / "boot.log"),
                                 ITOOLS_BOOT_ARGS, root="UUID=" + ROOT_UUID, more_disks=(data_img,))
    assert booted, log[-2000:]
    assert guests.BOOT_MARKER + " /dev/vda / ext4" in log
    assert "IMSPREP-E2E-MOUNT /dev/vdb /data ext4" in log, log[-1500:]


def test_missing_modules_dep_runs_depmod_first(broken_itools):
    """Field note: depmod never ran -> dracut/mkinitramfs would build an image without modules."""
    root, reference = broken_itools
    kver = guests.kver_of(root)
    moddir = os.path.join(root, "lib", "modules", kver)
    for name in ("modules.dep", "modules.dep.bin"):
        os.unlink(os.path.join(moddir, name))
        os.unlink(os.path.join(reference, "lib", "modules", kver, name))
    report, _ = check_json(root)
    assert any(f["code"] == "MODULES_DEP_MISSING" for f in report["findings"])
    result, _ = fix(root, rc=0)
    kinds = [a["kind"] for a in result["plan"]["actions"]]
    assert kinds.index("depmod") < kinds.index("rebuild-initramfs")
    assert os.path.exists(os.path.join(moddir, "modules.dep"))
    run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    assert guests.tree_differences(reference, root) == []
