#!/usr/bin/env python3
"""Regenerate examples/sample-guest: a small guest tree for trying `imsprep check --root`.

It models a Debian 12 server prepared on a XEN host: initramfs-tools with MODULES=dep, an
initramfs without virtio, and the disk named /dev/xvda1 in fstab and grub.cfg. Every text file is
real data (tests/data, see tests/data/SOURCES.md); the initramfs holds the exact file list of the
real MODULES=list image that Debian's mkinitramfs built in the test guest
(tools/sample-initramfs-files.txt), with empty file contents; module and kernel files are empty
stand-ins at their real paths. Needs the host's cpio and gzip.
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from fakeguest import FakeGuest, compress, make_cpio  # noqa: E402

KVER = "6.1.0-50-amd64"
GRUB = """### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11' {
	load_video
	insmod gzio
	insmod part_msdos
	insmod ext2
	echo	'Loading Linux %(k)s ...'
	linux	/boot/vmlinuz-%(k)s root=/dev/xvda1 ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-%(k)s
}
### END /etc/grub.d/10_linux ###
""" % {"k": KVER}


def main() -> None:
    target = os.path.join(HERE, "..", "examples", "sample-guest")
    if os.path.exists(target):
        shutil.rmtree(target)
    guest = FakeGuest(target)
    guest.os_release("debian-pkg_debian-12")
    guest.write("/etc/initramfs-tools/initramfs.conf", "MODULES=dep\nBUSYBOX=auto\nKEYMAP=n\nCOMPRESS=zstd\n")
    guest.write("/etc/initramfs-tools/modules", "# List of modules that you want to include in your initramfs.\n")
    guest.write("/usr/sbin/mkinitramfs", "#!/bin/sh\necho 'sample guest: not a real mkinitramfs' >&2\nexit 1\n", mode=0o755)
    guest.write("/usr/sbin/update-initramfs", "#!/bin/sh\necho 'sample guest: not a real update-initramfs' >&2\nexit 1\n",
                mode=0o755)
    guest.dpkg([("initramfs-tools", "0.142+deb12u3"), ("linux-image-%s" % KVER, "6.1.176-1")])
    guest.kernel("debian-12-bookworm-6.1.0-50-x86_64", kver=KVER)
    guest.write("/etc/fstab", "# /etc/fstab: static file system information.\n"
                "/dev/xvda1 /               ext4    errors=remount-ro 0       1\n"
                "/dev/xvda5 none            swap    sw              0       0\n")
    guest.write("/boot/grub/grub.cfg", GRUB)
    with open(os.path.join(HERE, "sample-initramfs-files.txt")) as fh:
        files = [line.strip() for line in fh if line.strip()]
    guest.write("/boot/initrd.img-%s" % KVER, compress(make_cpio(files), "gzip"))
    print("wrote", os.path.normpath(target))


if __name__ == "__main__":
    main()
