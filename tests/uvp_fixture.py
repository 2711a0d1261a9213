"""A model of Huawei UVP VMTools as installed in a guest (the suite is not public).

Layout and behaviour follow what reference-procedure.md reads from its public installer script:
files under /etc/.uvp-monitor (the installer kept as `uninstall`), /usr/bin/uvp-monitor, init
scripts, /etc/modprobe.d/uvp-pvdriver.conf, its own modules under updates/pvdriver, the native
xen*.ko moved into uvp_mods_backup.tar, and config edits between ###pvdriver marker lines. The
`uninstall` script undoes exactly that and prints the message the documentation quotes."""

import os
import subprocess

BEGIN = "###pvdriver<begin> do not change this comment"
END = "###pvdriver<end> do not change this comment"
UNINSTALL = """#!/bin/sh
# model of UVP VMTools' uninstaller (see tests/uvp_fixture.py)
KVER=%(kver)s
MODDIR=/lib/modules/$KVER
if [ -f $MODDIR/uvp_mods_backup.tar ]; then
    tar -xf $MODDIR/uvp_mods_backup.tar -C $MODDIR && rm -f $MODDIR/uvp_mods_backup.tar
fi
rm -rf $MODDIR/updates/pvdriver
for f in /etc/initramfs-tools/modules /etc/default/grub; do
    [ -f "$f" ] && sed -i '/###pvdriver<begin>/,/###pvdriver<end>/d' "$f"
done
rm -f /etc/modprobe.d/uvp-pvdriver.conf /usr/bin/uvp-monitor /etc/init.d/uvp-monitor /etc/init.d/xenvnet-arp /usr/bin/pvumount.sh
depmod -a $KVER
rm -rf /etc/.uvp-monitor
echo "The PV driver is uninstalled successfully. Reboot the system for the uninstallation to take effect."
"""


def _write(root, path, text, mode=0o644):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if os.path.lexists(full):
        os.unlink(full)  # never write through a hard link into a cached guest
    with open(full, "w") as fh:
        fh.write(text)
    os.chmod(full, mode)


def install_uvp(root, kver):
    moddir = os.path.join(root, "lib", "modules", kver)
    natives = ["kernel/drivers/block/xen-blkfront.ko", "kernel/drivers/net/xen-netfront.ko"]
    subprocess.run(["tar", "-cf", "uvp_mods_backup.tar"] + natives, cwd=moddir, check=True)
    for rel in natives:
        os.unlink(os.path.join(moddir, rel))
    for name in ("xen-platform-pci", "xen-vbd", "xen-vnif", "xen-balloon", "xen-hcall", "xen-vmdq", "xen-scsifront", "xen-procfs"):
        _write(root, "/lib/modules/%s/updates/pvdriver/%s.ko" % (kver, name), "")
    _write(root, "/etc/.uvp-monitor/uninstall", UNINSTALL % {"kver": kver}, 0o755)
    _write(root, "/etc/.uvp-monitor/version.ini", "[version]\nversion=2.5.0.146\n")
    _write(root, "/etc/.uvp-monitor/CheckKernelUpdate.sh", "#!/bin/sh\nexit 0\n", 0o755)
    _write(root, "/usr/bin/uvp-monitor", "#!/bin/sh\nwhile sleep 60; do :; done\n", 0o755)
    _write(root, "/etc/init.d/uvp-monitor", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: uvp-monitor\n### END INIT INFO\n", 0o755)
    _write(root, "/etc/modprobe.d/uvp-pvdriver.conf", "install 8139cp /bin/true\ninstall 8139too /bin/true\n")
    modules = os.path.join(root, "etc", "initramfs-tools", "modules")
    with open(modules) as fh:
        text = fh.read()
    _write(root, "/etc/initramfs-tools/modules", text + "%s\nxen-platform-pci\nxen-vbd\nxen-vnif\n%s\n" % (BEGIN, END))
    subprocess.run(["chroot", root, "depmod", "-a", kver], check=True)
