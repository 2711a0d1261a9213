"""check against the real thing: Debian kernel packages, debootstrapped guests, initramfs images
built by the guests' own initramfs-tools and dracut. Artifacts come from tests/guests.py (cached)."""

import os
import shutil
import subprocess

import guests
import pytest
from conftest import check_json, run_imsprep

from imsprep.facts.initramfs import InitramfsReader
from imsprep.facts.kmod import module_name_of_path, parse_kernel_config
from imsprep.system import System

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap"),
                                 reason="needs root and debootstrap (tests/setup-deps.sh installs it)")]

KVM = ["virtio", "virtio_ring", "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net"]
SYMBOLS = {"virtio": "CONFIG_VIRTIO", "virtio_ring": "CONFIG_VIRTIO", "virtio_pci": "CONFIG_VIRTIO_PCI",
           "virtio_blk": "CONFIG_VIRTIO_BLK", "virtio_scsi": "CONFIG_SCSI_VIRTIO", "virtio_net": "CONFIG_VIRTIO_NET",
           "xen-blkfront": "CONFIG_XEN_BLKDEV_FRONTEND", "xen-netfront": "CONFIG_XEN_NETDEV_FRONTEND"}


def kernel_entry(report, kver):
    return next(k for k in report["kernels"] if k["version"] == kver)


def native_modules(path):
    system = System("/")
    reader = InitramfsReader.on(system)
    with open(path, "rb") as fh:
        return reader.list(fh, path)


def tool_listing(guest_root, tool, image):
    """The guest's own lsinitramfs/lsinitrd output for ``image`` (copied into the guest)."""
    inside = "/tmp/imsprep-compare.img"
    shutil.copyfile(image, guest_root + inside)
    try:
        with guests.chroot_mounts(guest_root):
            out = subprocess.run(["chroot", guest_root, tool, inside], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, env=dict(os.environ, LC_ALL="C")).stdout.decode()
    finally:
        os.unlink(guest_root + inside)
    return out


@pytest.fixture(scope="module")
def itools():
    return guests.itools_guest()


@pytest.fixture
def itools_clone(itools, tmp_path):
    return guests.clone_guest(itools, str(tmp_path / "guest"))


@pytest.mark.parametrize("suite", sorted(guests.SUITES))
def test_real_kernel_packages(tmp_path, suite):
    """bullseye 5.10, bookworm 6.1, trixie 6.12 (merged /usr, .ko.xz): every driver's state agrees
    with the package's own config, module dependencies come from the real modules.dep, and with
    no initramfs the check names the modules it needs."""
    tree, kver = guests.kernel_tree(suite)
    root = guests.clone_guest(tree, str(tmp_path / "guest"))
    with open(os.path.join(root, "boot", "config-" + kver)) as fh:
        config = parse_kernel_config(fh.read())
    report, rc = check_json(root)
    assert rc == 1
    entry = kernel_entry(report, kver)
    for target in ("kvm", "xen"):
        for driver in entry["targets"][target]["drivers"]:
            expected = {"y": "builtin", "m": "module"}.get(config.get(SYMBOLS[driver["name"]]), "absent")
            assert driver["state"] == expected, (suite, driver)
            if expected == "module":
                assert driver["module_path"].endswith((".ko", ".ko.xz", ".ko.zst"))
    kvm = {d["name"]: d for d in entry["targets"]["kvm"]["drivers"]}
    assert "virtio_ring" in kvm["virtio_blk"]["needed_in_initramfs"] or kvm["virtio_ring"]["state"] == "builtin"
    missing = next(f for f in report["findings"] if f["code"] == "INITRAMFS_MISSING" and "KVM" in f["message"])
    assert kver in missing["message"]


def test_bookworm_guest_default_initramfs_is_ready(itools_clone):
    """debootstrapped bookworm, initramfs-tools MODULES=most, zstd. initramfs-tools adds an early
    microcode cpio only when the build host's CPU wants one, so that segment may or may not be there."""
    report, rc = check_json(itools_clone)
    assert rc == 0, [f["message"] for f in report["findings"]]
    kver = guests.kver_of(itools_clone)
    initramfs = kernel_entry(report, kver)["initramfs"]
    assert initramfs["method"] == "native"
    formats = [s["format"] for s in initramfs["segments"]]
    assert formats[-1] == "zstd" and set(formats[:-1]) <= {"cpio"} and len(formats) <= 2, formats
    assert report["distro"]["id"] == "debian" and report["generator"]["active"] == "initramfs-tools"
    assert report["generator"]["modules_policy"] == "most"
    text = run_imsprep("check", "--root", itools_clone, check_rc=0).stdout.decode()
    assert "KVM  ready" in text and "XEN  ready" in text


def test_bookworm_guest_modules_list_is_not_ready(itools_clone):
    """Done-when of the checker: MODULES=list without virtio -> exit 1 naming every missing module."""
    kver = guests.kver_of(itools_clone)
    image = guests.itools_image("list", "zstd", guests.BROKEN_MODULES)
    guests.replace_file(os.path.join(itools_clone, "boot", "initrd.img-" + kver), image)
    report, rc = check_json(itools_clone)
    assert rc == 1
    assert not report["verdict"]["kvm"]["ready"] and not report["verdict"]["xen"]["ready"]
    named = " ".join(f["message"].split(": ", 1)[1] for f in report["findings"]
                     if f["code"] in ("DRIVER_NOT_IN_INITRAMFS", "NIC_DRIVER_NOT_IN_INITRAMFS") and "KVM" in f["message"])
    for module in ("virtio", "virtio_ring", "virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
                   "virtio_blk", "virtio_scsi", "virtio_net", "net_failover", "failover"):
        assert module in named.replace(",", " ").split()
    text = run_imsprep("check", "--root", itools_clone, check_rc=1).stdout.decode()
    assert "KVM  NOT READY" in text and "virtio_blk" in text


@pytest.mark.parametrize("compress", guests.COMPRESSIONS)
def test_native_reader_matches_lsinitramfs(itools, compress):
    """Every compression initramfs-tools offers: our listing == the guest's own lsinitramfs."""
    image = guests.itools_image("list", compress, ["virtio_blk", "virtio_net", "ext4"])
    listing = native_modules(image)
    assert listing.segments[-1][1] == compress
    theirs = tool_listing(itools, "lsinitramfs", image)
    their_files = {line.strip() for line in theirs.splitlines() if line.strip()}
    our_modules = set(listing.modules)
    their_modules = {module_name_of_path(p) for p in their_files if module_name_of_path(p) and "/modules/" in p}
    assert our_modules == their_modules
    assert {"virtio_blk", "virtio_net", "virtio_ring", "virtio", "ext4"} <= our_modules
    assert "virtio_scsi" not in our_modules
    assert listing.files <= {p.lstrip("./") for p in their_files} | {p for p in their_files}


def test_real_default_kernel_beats_newest(itools_clone):
    """A newer real kernel (trixie 6.12) installed without an initramfs: judged only when grub boots it."""
    old = guests.kver_of(itools_clone)
    tree, new = guests.kernel_tree("trixie")
    shutil.copyfile(os.path.join(tree, "boot", "vmlinuz-" + new), os.path.join(itools_clone, "boot", "vmlinuz-" + new))
    shutil.copyfile(os.path.join(tree, "boot", "config-" + new), os.path.join(itools_clone, "boot", "config-" + new))
    subprocess.run(["cp", "-al", os.path.join(tree, "usr", "lib", "modules", new), os.path.join(itools_clone, "lib", "modules", new)],
                   check=True)
    cfg = os.path.join(itools_clone, "boot", "grub", "grub.cfg")
    os.makedirs(os.path.dirname(cfg), exist_ok=True)
    entry = "menuentry 'Debian GNU/Linux, with Linux {k}' $menuentry_id_option 'gnulinux-{k}-advanced-x' {{\n" \
            "\tlinux\t/boot/vmlinuz-{k} root=UUID=0b9f ro quiet\n\tinitrd\t/boot/initrd.img-{k}\n}}\n"
    for default, expect_rc in (("1", 0), ("0", 1)):
        with open(cfg, "w") as fh:
            fh.write('set default="%s"\n' % default + entry.format(k=new) + entry.format(k=old))
        report, rc = check_json(itools_clone)
        assert rc == expect_rc and report["default_kernel"] == (old if default == "1" else new)
        assert kernel_entry(report, new)["targets"]["kvm"]["ready"] is False


@pytest.fixture(scope="module")
def dracut_root():
    return guests.dracut_guest()


@pytest.mark.parametrize("variant,ready", [("default", True), ("hostonly-broken", False)])
def test_dracut_images(dracut_root, tmp_path, variant, ready):
    root = guests.clone_guest(dracut_root, str(tmp_path / "guest"))
    kver = guests.kver_of(root)
    guests.replace_file(os.path.join(root, "boot", "initrd.img-" + kver), guests.dracut_image(variant))
    report, rc = check_json(root)
    assert report["generator"]["active"] == "dracut"
    assert report["verdict"]["kvm"]["ready"] is ready, [f["message"] for f in report["findings"]]
    if not ready:
        finding = next(f for f in report["findings"] if f["code"] == "DRIVER_NOT_IN_INITRAMFS" and "KVM" in f["message"])
        assert "virtio_blk" in finding["message"] and "dracut -f" in finding["remediation"]
    listing = native_modules(guests.dracut_image(variant))
    theirs = tool_listing(dracut_root, "lsinitrd", guests.dracut_image(variant))
    their_modules = {module_name_of_path(line.split()[-1]) for line in theirs.splitlines()
                     if line.split() and module_name_of_path(line.split()[-1]) and "/modules/" in line}
    assert set(listing.modules) == their_modules
