"""Proven the way users boot: whole disks through their own bootloader (SeaBIOS + GRUB in the MBR,
or OVMF + GRUB on the ESP), no -kernel, judged by a line the booted system prints (tests/disks.py).

(a) made on IDE/SATA, the .deb installed, `imsprep fix --yes` run inside the running guest: boots on
    virtio-blk and virtio-scsi; (e) a kernel update inside the guest after the fix keeps it booting;
(b) made on XEN (swap, network bound to enX0), `imsprep fix --image`: boots on virtio with swap, no
    device time-out and a DHCP address on its virtio NIC;
(c) made on XEN with UEFI, reported uefi with its ESP unmounted, `fix --image`, boots under OVMF;
(d) made on IDE with cloud-init, `mode=fix`, sealed with `cloud-init clean`: the first boot from a
    NoCloud seed fixes it, the next boots on virtio.
"""

import json
import os
import shutil
import subprocess

import disks
import guests
import pytest
from conftest import run_imsprep, validate_report

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in (
                  "qemu-system-x86_64", "grub-mkimage", "sfdisk", "mcopy", "debootstrap", "losetup")) or
                  not os.path.exists(disks.OVMF), reason="needs root and tests/setup-deps.sh's tools")]


def check_image(image, *extra):
    proc = run_imsprep("check", "--image", image, "--format", "json", *extra)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    report = json.loads(proc.stdout.decode())
    validate_report(report)
    return report, proc.returncode


def assert_clean_boot(boot, root, swap=None):
    assert boot.booted, boot.summary()
    assert boot.through_grub, boot.summary()  # BOOT_IMAGE= on the command line: GRUB loaded it
    assert boot.fields["root"] == root, boot.summary()
    assert boot.fields["failed"] == "", boot.summary()
    assert boot.fields["timeouts"] == "0", boot.summary()
    if swap:
        assert swap in boot.fields["swap"].split(), boot.summary()


def no_loop_left(image):
    listing = subprocess.run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"], stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
    assert os.path.realpath(image) not in listing
    with open("/proc/mounts") as fh:
        assert "imsprep-image-" not in fh.read()


def test_b_xen_bios_disk_fixed_offline_boots_with_swap_and_network(tmp_path):
    image = disks.copy_disk(disks.xen_bios_disk(), str(tmp_path / "xen-bios.raw"))
    report, rc = check_image(image)
    assert rc == 1 and not report["verdict"]["kvm"]["ready"]
    assert report["platform"]["firmware"] == "bios"
    network = [f for f in report["findings"] if "enX0" in f["message"]]
    assert network, [f["message"] for f in report["findings"]]  # bound to the Xen vif name
    no_loop_left(image)

    proc = run_imsprep("fix", "--image", image, "--yes", "--color", "never")
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out[-4000:]
    assert "stays" not in out and "xvda2 is not mounted" not in out, out[-3000:]
    no_loop_left(image)
    report, rc = check_image(image)
    assert rc == 0, [f["message"] for f in report["findings"] if f["severity"] == "error"]
    assert report["device_refs"] == []

    boot = disks.boot(image, str(tmp_path / "virtio.log"), bus="virtio")
    assert_clean_boot(boot, "/dev/vda1", swap="/dev/vda2")
    assert "10.0.2.15" in boot.fields["net"], boot.summary()


def test_c_xen_uefi_disk_reported_uefi_and_boots_under_ovmf_after_fix(tmp_path):
    image = disks.copy_disk(disks.xen_uefi_disk(), str(tmp_path / "xen-uefi.raw"))
    report, rc = check_image(image)
    assert report["platform"]["firmware"] == "uefi", report["platform"]
    assert report["image_properties"]["hw_firmware_type"] == "uefi"
    proc = run_imsprep("fix", "--image", image, "--yes", "--color", "never")
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out[-4000:]
    assert "/boot/efi" not in " ".join(r["context"] for r in check_image(image)[0]["device_refs"])
    boot = disks.boot(image, str(tmp_path / "ovmf.log"), bus="virtio", firmware="uefi")
    assert_clean_boot(boot, "/dev/vda2")


def _install_deb(mnt, deb):
    shutil.copyfile(deb, os.path.join(mnt, "tmp", os.path.basename(deb)))
    with guests.chroot_mounts(mnt):
        guests.run(["chroot", mnt, "apt-get", "install", "-y", "-q", "--no-install-recommends", "/tmp/" + os.path.basename(deb)])
    os.unlink(os.path.join(mnt, "tmp", os.path.basename(deb)))


def _action(mnt, script):
    path = os.path.join(mnt, "etc", "imsprep-e2e", "action")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n" + script + "\n")
    os.chmod(path, 0o755)


def test_a_ide_disk_fixed_live_boots_on_virtio_blk_and_scsi_and_e_survives_a_kernel_update(tmp_path):
    image = disks.copy_disk(disks.ide_bios_disk(), str(tmp_path / "ide.raw"))
    deb = disks.imsprep_deb()
    with disks.root_of(image, 1) as mnt:
        _install_deb(mnt, deb)
        _action(mnt, "imsprep fix --yes --color never; rc=$?; imsprep check --color never; echo \"check rc=$?\"; exit $rc")
    first = disks.boot(image, str(tmp_path / "ide.log"), bus="ide", nic=False)
    assert_clean_boot(first, "/dev/sda1", swap="/dev/sda2")
    assert "IMSPREP-E2E-ACTION rc=0" in first.console, first.action_output()[-4000:]
    assert "check rc=0" in first.action_output(), first.action_output()[-4000:]

    with disks.root_of(image, 1) as mnt:  # (e): the guest's own kernel update path after the fix
        _action(mnt, "update-initramfs -u -k all")
    second = disks.boot(image, str(tmp_path / "virtio-blk.log"), bus="virtio", nic=False)
    assert_clean_boot(second, "/dev/vda1", swap="/dev/vda2")
    assert "IMSPREP-E2E-ACTION rc=0" in second.console, second.action_output()[-3000:]

    third = disks.boot(image, str(tmp_path / "virtio-scsi.log"), bus="scsi", nic=False)
    assert_clean_boot(third, "/dev/sda1", swap="/dev/sda2")


# the minimal guest has no locales package: cloud-init's locale module would fail on its own
USER_DATA = "#cloud-config\nlocale: false\n"


def test_d_cloud_init_first_boot_fixes_a_sealed_disk(tmp_path):
    image = disks.copy_disk(disks.ide_cloud_disk(), str(tmp_path / "cloud.raw"))
    deb = disks.imsprep_deb()
    with disks.root_of(image, 1) as mnt:
        _install_deb(mnt, deb)
        with open(os.path.join(mnt, "etc", "imsprep", "cloud-init.conf"), "w") as fh:
            fh.write("mode=fix\n")
        with guests.chroot_mounts(mnt):
            guests.run(["chroot", mnt, "cloud-init", "clean", "--logs"])
        assert not os.path.exists(os.path.join(mnt, "var", "lib", "cloud", "scripts", "per-instance", "imsprep"))
        assert os.path.islink(os.path.join(mnt, "etc", "systemd", "system", "cloud-init.target.wants",
                                           "imsprep-cloud-hook.service"))
        _action(mnt, "cloud-init status --long")
        # the NoCloud seed lives in the image (outside /var/lib/cloud, which `cloud-init clean` empties);
        # a second disk on the boot bus may take the name sda first (sd probing is asynchronous)
        seed = os.path.join(mnt, "var", "lib", "imsprep-e2e-seed")
        os.makedirs(seed)
        with open(os.path.join(seed, "user-data"), "w") as fh:
            fh.write(USER_DATA)
        with open(os.path.join(seed, "meta-data"), "w") as fh:
            fh.write("instance-id: imsprep-disk-1\nlocal-hostname: imsprep-disk\n")
    serial = "ds=nocloud;s=file:///var/lib/imsprep-e2e-seed/"

    first = disks.boot(image, str(tmp_path / "first.log"), bus="ide", nic=False, smbios_serial=serial, timeout=1200)
    assert first.booted, first.summary()
    assert "imsprep cloud-init hook, mode=fix" in first.console, first.console[-4000:]
    assert "imsprep exit code: 0" in first.console, first.console[-4000:]
    assert "status: done" in first.action_output(), first.action_output()

    second = disks.boot(image, str(tmp_path / "second.log"), bus="virtio", nic=False, smbios_serial=serial, timeout=900)
    assert_clean_boot(second, "/dev/vda1", swap="/dev/vda2")
    assert "imsprep cloud-init hook" not in second.console  # once per instance
