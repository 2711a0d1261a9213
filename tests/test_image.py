"""--image on small real disk images (partition table, ext4 root, swap or a FAT ESP, made with
sfdisk, mkfs.ext4 -d, mkswap, mkfs.vfat; qcow2 with qemu-img): attach, find the root, resolve the
guest's kernel names through the disk, detect the firmware with the ESP unmounted, detach on every
way out. Needs root (loop devices); a few seconds."""

import json
import os
import shutil
import subprocess

import pytest
from conftest import run_imsprep, validate_report
from test_check_fake import debian_guest

TOOLS = ("losetup", "sfdisk", "mkfs.ext4", "mkswap", "mkfs.vfat", "blkid", "qemu-img", "mdir")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS),
                                                     reason="needs root and %s (tests/setup-deps.sh)" % ", ".join(TOOLS))]


def sh(*argv, **kwargs):
    return subprocess.run(list(argv), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def make_disk(tmp_path, firmware):
    guest, kver = debian_guest(tmp_path / "tree")
    if firmware == "bios":
        guest.write("/etc/fstab", "/dev/xvda1 / ext4 errors=remount-ro 0 1\n/dev/xvda2 none swap sw 0 0\n")
        layout = "label: dos\n,40M,L,*\n,,S\n"
    else:
        guest.write("/etc/fstab", "/dev/xvda2 / ext4 errors=remount-ro 0 1\n/dev/xvda1 /boot/efi vfat umask=0077 0 1\n")
        os.makedirs(guest.path("/boot/efi"), exist_ok=True)
        layout = "label: gpt\n,34M,U\n,,L\n"
    image = str(tmp_path / "disk.raw")
    sh("truncate", "-s", "80M", image)
    sh("sfdisk", "-q", image, input=layout.encode())
    loop = sh("losetup", "--find", "--show", "--partscan", image).stdout.decode().strip()
    try:
        subprocess.run(["partx", "-a", loop], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        root, other = (loop + "p1", loop + "p2") if firmware == "bios" else (loop + "p2", loop + "p1")
        sh("mkfs.ext4", "-q", "-F", "-d", guest.root, root)
        if firmware == "bios":
            sh("mkswap", other)
        else:
            sh("mkfs.vfat", "-F", "32", other)
            sh("mmd", "-i", other, "::/EFI", "::/EFI/debian", env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
            sh("mcopy", "-i", other, "/dev/null", "::/EFI/debian/grubx64.efi", env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
        uuids = {part: sh("blkid", "-p", "-s", "UUID", "-o", "value", part).stdout.decode().strip() for part in (root, other)}
    finally:
        subprocess.run(["losetup", "--detach", loop])
    return image, uuids[root], uuids[other]


def loops_of(image):
    out = subprocess.run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"], stdout=subprocess.PIPE).stdout.decode()
    return [line for line in out.splitlines() if os.path.basename(image) in line]


def check(image, rc=None):
    proc = run_imsprep("check", "--image", image, "--format", "json")
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    report = json.loads(proc.stdout.decode())
    validate_report(report)
    if rc is not None:
        assert proc.returncode == rc, (proc.returncode, proc.stderr.decode())
    return report


def test_bios_disk_swap_resolved_through_the_disk(tmp_path):
    image, root_uuid, swap_uuid = make_disk(tmp_path, "bios")
    report = check(image)
    assert report["platform"]["firmware"] == "bios"
    assert image in report["root"] and report["distro"]["id"] == "debian"
    assert {r["device"] for r in report["device_refs"]} == {"/dev/xvda1", "/dev/xvda2"}
    assert loops_of(image) == []
    proc = run_imsprep("fix", "--image", image, "--dry-run", "--color", "never")
    out = proc.stdout.decode()
    assert "+UUID=%s / ext4" % root_uuid in out and "+UUID=%s none swap" % swap_uuid in out, out
    assert "stays" not in out
    assert loops_of(image) == []


def test_fix_writes_and_check_is_read_only(tmp_path):
    image, root_uuid, swap_uuid = make_disk(tmp_path, "bios")
    before = os.stat(image).st_mtime
    check(image)
    assert os.stat(image).st_mtime == before  # attached read-only, mounted ro,noload
    proc = run_imsprep("fix", "--image", image, "--yes", "--color", "never")
    assert proc.returncode in (0, 1), proc.stderr.decode()
    report = check(image)
    assert report["device_refs"] == []


def test_uefi_disk_with_its_esp_unmounted_is_uefi(tmp_path):
    image, root_uuid, esp_uuid = make_disk(tmp_path, "uefi")
    report = check(image)
    assert report["platform"]["firmware"] == "uefi", report["platform"]
    assert report["image_properties"]["hw_firmware_type"] == "uefi"
    evidence = report["platform"]["firmware_evidence"]
    assert "EFI System Partition" in evidence and "/boot/efi" in evidence and "grubx64.efi" in evidence.lower()
    out = run_imsprep("fix", "--image", image, "--dry-run", "--color", "never").stdout.decode()
    assert "+UUID=%s /boot/efi vfat" % esp_uuid in out, out


def test_qcow2(tmp_path):
    image, root_uuid, swap_uuid = make_disk(tmp_path, "bios")
    qcow2 = str(tmp_path / "disk.qcow2")
    sh("qemu-img", "convert", "-O", "qcow2", image, qcow2)
    report = check(qcow2)
    assert report["distro"]["id"] == "debian" and len(report["device_refs"]) == 2
    with open("/proc/mounts") as fh:
        assert "imsprep-image-" not in fh.read()


def test_no_linux_root_is_a_clear_error_and_nothing_is_left(tmp_path):
    image = str(tmp_path / "empty.raw")
    sh("truncate", "-s", "40M", image)
    sh("sfdisk", "-q", image, input=b"label: dos\n,,L\n")
    proc = run_imsprep("check", "--image", image)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    assert b"no partition with a Linux root file system" in proc.stderr, proc.stderr
    assert loops_of(image) == []


def test_root_mounted_by_hand_resolves_the_other_partitions_of_its_disk(tmp_path):
    """The user's own way: losetup + mount of the root partition, then --root."""
    image, root_uuid, swap_uuid = make_disk(tmp_path, "bios")
    loop = sh("losetup", "--find", "--show", "--partscan", image).stdout.decode().strip()
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    try:
        subprocess.run(["partx", "-a", loop], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sh("mount", loop + "p1", mnt)
        try:
            out = run_imsprep("fix", "--root", mnt, "--dry-run", "--color", "never").stdout.decode()
            assert "+UUID=%s none swap" % swap_uuid in out and "stays" not in out, out
        finally:
            sh("umount", mnt)
        # a swap partition without a UUID: the message names the device on this machine
        sh("dd", "if=/dev/zero", "of=" + loop + "p2", "bs=1M", "count=1")
        sh("mount", loop + "p1", mnt)
        out = run_imsprep("fix", "--root", mnt, "--dry-run", "--color", "never").stdout.decode()
        assert "/dev/xvda2 is %sp2 here (partition 2 of %s)" % (loop, loop) in out, out
    finally:
        subprocess.run(["umount", mnt], stderr=subprocess.PIPE)
        subprocess.run(["losetup", "--detach", loop])
