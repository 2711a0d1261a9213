"""--root trees of the old guests that imsprep serves offline (CentOS 6/7, SLES 11/12, Ubuntu 14.04/16.04,
Debian 8/9), assembled from their recorded real files in tests/data/old-guests (provenance in
tests/data/SOURCES.md, section "old-guests").

What is real and what is made here, per tree:
- the files under tests/data/old-guests/<guest>/ are copied byte for byte, except that a line-leading
  ``……`` (the elision mark of the documentation they were printed in) is removed from boot configs, so
  that the excerpt is a boot config again (``ELISION``);
- module paths: real where a recorded listing shows them (CentOS 6 2.6.32-573.8.1.el6, CentOS 7
  3.10.0-862.el7 layout, SLES 12 SP2 4.4.21-69-default, Ubuntu 3.x built-in virtio); ``modules.dep``
  lines are written from these paths with the virtio core dependencies (virtio, virtio_ring) that every
  one of these kernels has — an approximation, no recorded modules.dep of these kernels was found;
- kernel configs: only where a real one of the same kernel line exists in tests/data/kernel-configs
  (Debian 9: 4.9.168; CentOS 7: the EL7 3.10.0-1160 config stands for 3.10.0-229); none for 2.6.32,
  3.0 and Ubuntu 3.13/4.4 (their built-in drivers come from ``modules.builtin`` written from the
  recorded ``grep CONFIG_VIRTIO`` of an Ubuntu 3.x kernel);
- 2.6.32 has no modules.builtin at all (it appeared in 2.6.33): the CentOS 6 tree has none, as the
  real guest;
- initramfs images are real cpio archives (host cpio) holding the modules the XEN guest's image held:
  the XEN drivers, not virtio — the state these guests are in before a move to KVM;
- kernel images are 16 zero bytes; generators are ``exit 0`` scripts at their real paths.
"""

import os
import shutil
from typing import Any, Dict, List, Optional

from fakeguest import DATA, FakeGuest, compress, make_cpio

OLD = os.path.join(DATA, "old-guests")
ELISION = "\u2026\u2026"

VIRTIO_CORE = ["kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko"]


def _virtio_paths(suffix: str = ".ko") -> Dict[str, List[str]]:
    """module path -> dependencies (virtio core), the layout every kernel here has."""
    core = [p.replace(".ko", suffix) for p in VIRTIO_CORE]
    mods = {"kernel/drivers/virtio/virtio.ko": [], "kernel/drivers/virtio/virtio_ring.ko": [],
            "kernel/drivers/virtio/virtio_pci.ko": core, "kernel/drivers/block/virtio_blk.ko": core,
            "kernel/drivers/net/virtio_net.ko": core, "kernel/drivers/scsi/virtio_scsi.ko": core,
            "kernel/drivers/block/xen-blkfront.ko": [], "kernel/drivers/net/xen-netfront.ko": []}
    return {k.replace(".ko", suffix): v for k, v in mods.items()}


# Ubuntu 3.x/4.4 generic kernels: virtio and the Xen front ends are built in (recorded config grep)
UBUNTU_BUILTIN = ["kernel/drivers/block/virtio_blk.ko", "kernel/drivers/net/virtio_net.ko",
                  "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
                  "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/block/xen-blkfront.ko",
                  "kernel/drivers/net/xen-netfront.ko"]

SPECS: Dict[str, Dict[str, Any]] = {
    "centos-6": {"kver": "2.6.32-573.8.1.el6.x86_64", "config": None, "builtin": None,
                 "initramfs": "/boot/initramfs-%s.img", "in_initramfs": ["xen-blkfront", "xen-netfront"],
                 "executables": ["/sbin/dracut"], "packages": "rpm"},
    "centos-7": {"kver": "3.10.0-229.el7.x86_64", "config": "oraclelinux-7-rhck-x86_64", "builtin": [], "suffix": ".ko",
                 "initramfs": "/boot/initramfs-%s.img", "in_initramfs": ["xen-blkfront", "xen-netfront"],
                 "executables": ["/usr/sbin/dracut"], "packages": "rpm"},
    "sles-11": {"kver": "3.0.76-0.11-default", "config": None, "builtin": [],
                "initramfs": "/boot/initrd-%s", "in_initramfs": ["xen-blkfront", "xen-netfront"],
                "executables": ["/sbin/mkinitrd"], "packages": "rpm",
                # KIWI's VMX layout (the recorded menu.lst boots /boot/linux.vmx and /boot/initrd.vmx)
                "links": {"/boot/linux.vmx": "vmlinuz-%s", "/boot/initrd.vmx": "initrd-%s"}},
    "sles-12": {"kver": "4.4.21-69-default", "config": None, "builtin": [],
                "initramfs": "/boot/initrd-%s", "in_initramfs": ["xen-blkfront", "xen-netfront"],
                "executables": ["/usr/bin/dracut", "/sbin/mkinitrd"], "packages": "rpm"},
    "ubuntu-14.04": {"kver": "3.13.0-24-generic", "config": None, "builtin": UBUNTU_BUILTIN,
                     "initramfs": "/boot/initrd.img-%s", "in_initramfs": [],
                     "executables": ["/usr/sbin/update-initramfs", "/usr/sbin/mkinitramfs"], "packages": "dpkg"},
    "ubuntu-16.04": {"kver": "4.4.0-21-generic", "config": None, "builtin": UBUNTU_BUILTIN,
                     "initramfs": "/boot/initrd.img-%s", "in_initramfs": [],
                     "executables": ["/usr/sbin/update-initramfs", "/usr/sbin/mkinitramfs"], "packages": "dpkg"},
    "debian-8": {"kver": "3.16.0-4-amd64", "config": None, "builtin": [],
                 "initramfs": "/boot/initrd.img-%s", "in_initramfs": ["xen-blkfront", "xen-netfront"],
                 "executables": ["/usr/sbin/update-initramfs", "/usr/sbin/mkinitramfs"], "packages": "dpkg"},
    "debian-9": {"kver": "4.9.0-9-amd64", "config": "debian-9-stretch-x86_64", "builtin": [],
                 "initramfs": "/boot/initrd.img-%s", "in_initramfs": ["xen-blkfront", "xen-netfront"],
                 "executables": ["/usr/sbin/update-initramfs", "/usr/sbin/mkinitramfs"], "packages": "dpkg"},
}
GUESTS = sorted(SPECS)


def recorded(guest: str, path: str) -> Optional[str]:
    """Text of a recorded file (tests/data/old-guests/<guest>/<path>), or None."""
    full = os.path.join(OLD, guest, path.lstrip("/"))
    if not os.path.exists(full):
        return None
    with open(full, encoding="utf-8") as fh:
        return fh.read()


def blkid(guest: str) -> Dict[str, str]:
    """device -> UUID from the recorded blkid output of that guest."""
    found = {}
    for line in (recorded(guest, "/_blkid.txt") or "").splitlines():
        device, _, rest = line.partition(":")
        if 'UUID="' in rest:
            found[device] = rest.split('UUID="', 1)[1].split('"', 1)[0]
    return found


def build(guest: str, root: str) -> FakeGuest:
    spec = SPECS[guest]
    tree = FakeGuest(root)
    source = os.path.join(OLD, guest)
    for dirpath, _, filenames in os.walk(source):
        for name in filenames:
            if name.startswith("_"):
                continue  # notes and outputs of the source guest, not its files
            rel = os.path.relpath(os.path.join(dirpath, name), source)
            with open(os.path.join(dirpath, name), "rb") as fh:
                content = fh.read()
            if rel.startswith("boot/"):
                content = b"\n".join(line[len(ELISION.encode()):] if line.startswith(ELISION.encode()) else line
                                     for line in content.split(b"\n"))
            tree.write("/" + rel, content)
    kver = str(spec["kver"])
    suffix = str(spec.get("suffix", ".ko"))
    moddir = "/lib/modules/%s" % kver
    tree.write("/boot/vmlinuz-%s" % kver, b"\x00" * 16)
    if spec["config"]:
        shutil.copyfile(os.path.join(DATA, "kernel-configs", "%s.config" % spec["config"]), tree.path("/boot/config-%s" % kver))
    builtin = spec["builtin"]
    modules = _virtio_paths(suffix)
    dep_lines = []
    for path, deps in sorted(modules.items()):
        if builtin is not None and path.replace(suffix, ".ko") in builtin:
            continue
        tree.write(moddir + "/" + path, b"")
        dep_lines.append("%s:%s" % (path, "".join(" " + d for d in deps if d.replace(suffix, ".ko") not in (builtin or []))))
    tree.write(moddir + "/modules.dep", "\n".join(dep_lines) + "\n")
    if builtin is not None:
        tree.write(moddir + "/modules.builtin", "".join(p + "\n" for p in builtin))
    wanted = {str(m).replace("-", "_") for m in spec["in_initramfs"]}
    in_image = ["init", "lib/modules/%s/modules.dep" % kver]
    for path in modules:
        base = os.path.basename(path).split(".ko")[0].replace("-", "_")
        if base in wanted:
            in_image.append("lib/modules/%s/%s" % (kver, path))
    tree.write(str(spec["initramfs"]) % kver, compress(make_cpio(in_image), "gzip"))
    for link, target in dict(spec.get("links", {})).items():
        tree.symlink(link, target % kver)
    for exe in spec["executables"]:
        tree.executable(str(exe))
    if spec["packages"] == "rpm":
        os.makedirs(tree.path("/var/lib/rpm"), exist_ok=True)
    else:
        tree.dpkg([("initramfs-tools", "0.120"), ("linux-image-%s" % kver, "1")])
    return tree
