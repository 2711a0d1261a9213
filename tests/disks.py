"""Whole-disk images booted through their own bootloader (../shared/spec/disk-notes.md).

A cached Debian bookworm tree with grub, python3 and imsprep's dependencies is laid onto a 3 GiB
raw disk the way a server on XEN (``/dev/xvda``) or on IDE/SATA (``/dev/sda``) has it: a partition
table, ext4 root (+ swap, or an ESP for UEFI), fstab and grub.cfg by kernel device names, an
initramfs with only that hardware's drivers (MODULES=list), GRUB in the MBR (BIOS, host's
grub-mkimage, boot.img and core.img written as grub-install does) or ``EFI/BOOT/BOOTX64.EFI`` on the ESP (UEFI,
grub-mkimage + mtools: this container's
kernel has no vfat). grub.cfg is written by the guest's own grub-mkconfig.

A boot is judged by one line the booted system prints on the serial console
(``imsprep-e2e-marker.service``: root device, swap, failed units, device time-outs, IPv4
addresses, machine-id, /proc/cmdline); ``BOOT_IMAGE=`` in that cmdline proves GRUB loaded the
kernel. An executable ``/etc/imsprep-e2e/action`` in the guest runs once at the next boot before
the marker (a live ``imsprep fix`` inside the running guest, a kernel update ...).

Disks are cached (``disk-*.raw`` in $IMSPREP_TEST_CACHE); tests boot sparse copies of them.
Only one QEMU runs at a time on this machine (a flock on /var/tmp/imsprep-qemu.lock).
"""

import contextlib
import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Optional

import guests
from guests import cached, chroot_mounts, debootstrap, kver_of, log, run, write_replacing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = "IMSPREP-DISK-BOOTED"
QEMU_LOCK = "/var/tmp/imsprep-qemu.lock"
OVMF = "/usr/share/ovmf/OVMF.fd"
DISK_PACKAGES = ("linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,grub2-common,grub-pc-bin,grub-efi-amd64-bin,"
                 "python3,python3-distro,python3-psutil,python3-jinja2,python3-sh,bubblewrap,util-linux,iproute2,"
                 "e2fsprogs,zstd,cpio")
XEN_MODULES = ["ext4", "xen-blkfront", "xen-netfront"]

MARKER_SCRIPT = r"""#!/bin/sh
# imsprep e2e: one line on the serial console that says how this boot went, then power off
say() { echo "$*" > /dev/ttyS0; }
if [ -x /etc/imsprep-e2e/action ]; then
    mv /etc/imsprep-e2e/action /etc/imsprep-e2e/action.ran
    /etc/imsprep-e2e/action.ran > /var/log/imsprep-e2e-action.log 2>&1
    rc=$?
    sed 's/^/IMSPREP-E2E-ACTION-OUT /' /var/log/imsprep-e2e-action.log > /dev/ttyS0
    say "IMSPREP-E2E-ACTION rc=$rc"
fi
i=0
# a guest with network configuration gets 45 s to obtain an address
if ls /etc/systemd/network/*.network /run/systemd/network/*.network >/dev/null 2>&1; then
    while [ $i -lt 45 ] && ! ip -4 -o addr show scope global | grep -q inet; do sleep 1; i=$((i+1)); done
fi
root=$(findmnt -n -o SOURCE /)
swap=$(swapon --noheadings --show=NAME | tr '\n' ' ')
failed=$(systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')
timeouts=$(journalctl -b --no-pager | grep -c 'Timed out waiting for device')
net=$(ip -4 -o addr show scope global | awk '{print $2"="$4}' | tr '\n' ' ')
say "%s root=$root swap=[$swap] failed=[$failed] timeouts=$timeouts net=[$net] uptime=$(cut -d' ' -f1 /proc/uptime) machine-id=$(cat /etc/machine-id) cmdline=[$(cat /proc/cmdline)]"
[ -e /etc/imsprep-e2e/stay-up ] || systemctl poweroff
""" % MARKER

MARKER_UNIT = """[Unit]
Description=imsprep e2e boot marker
After=multi-user.target cloud-final.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/imsprep-e2e-marker
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
"""

DEFAULT_GRUB = """GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_LINUX_UUID=true
GRUB_DISABLE_OS_PROBER=true
"""


def _write(root: str, path: str, content: str, mode: int = 0o644) -> None:
    host = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(host), exist_ok=True)
    if os.path.lexists(host):
        write_replacing(host, content)
    else:
        with open(host, "w") as fh:
            fh.write(content)
    os.chmod(host, mode)


def _prepare(root: str) -> None:
    _write(root, "/usr/local/sbin/imsprep-e2e-marker", MARKER_SCRIPT, 0o755)
    _write(root, "/etc/systemd/system/imsprep-e2e-marker.service", MARKER_UNIT)
    _write(root, "/etc/default/grub", DEFAULT_GRUB)
    with chroot_mounts(root):
        run(["chroot", root, "systemctl", "enable", "imsprep-e2e-marker.service", "systemd-networkd.service"])
        # no serial getty (its vhangup takes the console from the marker), no timers that slow TCG boots
        run(["chroot", root, "systemctl", "mask", "serial-getty@ttyS0.service", "apt-daily.timer",
             "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer", "man-db.timer",
             # nothing here waits for the network: the marker itself waits for an address where one is configured
             "systemd-networkd-wait-online.service"])
    with open(os.path.join(root, "etc", "hostname"), "w") as fh:
        fh.write("imsprep-disk\n")


def disk_tree() -> str:
    """Debian bookworm with grub (BIOS and EFI), python3 and imsprep's Debian dependencies."""
    return debootstrap("guest-bookworm-disk", "bookworm", DISK_PACKAGES, after=_prepare)


def cloud_disk_tree() -> str:
    """The disk tree with cloud-init."""
    base = disk_tree()

    def build(tmp: str) -> None:
        run(["cp", "-a", base, tmp])
        with chroot_mounts(tmp):
            run(["chroot", tmp, "apt-get", "install", "-y", "-q", "--no-install-recommends", "cloud-init", "dbus"])
        for path in glob.glob(os.path.join(tmp, "var/cache/apt/archives/*.deb")):
            os.unlink(path)

    return cached("guest-bookworm-disk-cloudinit", build)


# a Debian cloud guest as people run them: cloud-init, an SSH server, ifupdown + dhclient (a DHCP
# lease on disk, /var/lib/dhcp/dhclient.*.leases, as Debian 12's cloud images keep it)
SSH_CLOUD_PACKAGES = ["openssh-server", "isc-dhcp-client", "ifupdown"]
NO_SERVICE_START = "#!/bin/sh\n# no service starts inside a build chroot\nexit 101\n"


def cloud_ssh_disk_tree() -> str:
    """The cloud disk tree with an SSH server (host keys made by openssh-server's postinst) and dhclient."""
    base = cloud_disk_tree()

    def build(tmp: str) -> None:
        run(["cp", "-a", base, tmp])
        policy = os.path.join(tmp, "usr", "sbin", "policy-rc.d")
        with open(policy, "w") as fh:
            fh.write(NO_SERVICE_START)
        os.chmod(policy, 0o755)
        try:
            with chroot_mounts(tmp):
                run(["chroot", tmp, "apt-get", "install", "-y", "-q", "--no-install-recommends"] + SSH_CLOUD_PACKAGES)
        finally:
            os.unlink(policy)
        for path in glob.glob(os.path.join(tmp, "var/cache/apt/archives/*.deb")):
            os.unlink(path)
        assert glob.glob(os.path.join(tmp, "etc/ssh/ssh_host_*_key")), "openssh-server made no host keys"

    return cached("guest-bookworm-disk-cloudinit-ssh", build)


def imsprep_deb() -> str:
    """The .deb of this checkout (built every session: the code changes)."""
    out = tempfile.mkdtemp(prefix="imsprep-deb-")
    run(["sh", os.path.join(REPO, "packaging", "build-deb.sh"), out])
    return next(os.path.join(out, n) for n in os.listdir(out) if n.startswith("imsprep_") and n.endswith("_all.deb"))


# ----------------------------------------------------------------------------- loop devices
@contextlib.contextmanager
def attached(image: str) -> Iterator[str]:
    loop = run(["losetup", "--find", "--show", "--partscan", image]).stdout.decode().strip()
    try:
        subprocess.run(["partx", "-a", loop], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(loop + "p1"):
                break
            time.sleep(0.1)
        yield loop
    finally:
        subprocess.run(["partx", "-d", loop], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["losetup", "--detach", loop], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)  # detaching is deferred a moment (disk-notes.md)


@contextlib.contextmanager
def mounted(device: str) -> Iterator[str]:
    mnt = tempfile.mkdtemp(prefix="imsprep-disk-")
    run(["mount", device, mnt])
    try:
        yield mnt
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


@contextlib.contextmanager
def root_of(image: str, partition: int) -> Iterator[str]:
    """The root file system of a disk image, mounted (to change a guest between boots)."""
    with attached(image) as loop, mounted("%sp%d" % (loop, partition)) as mnt:
        yield mnt


# ----------------------------------------------------------------------------- building
def _initramfs_for(tree: str, modules: List[str]) -> None:
    """The initramfs a server on that hardware has: MODULES=list with only its drivers."""
    kver = kver_of(tree)
    conf = os.path.join(tree, "etc", "initramfs-tools", "initramfs.conf")
    with open(conf) as fh:
        text = fh.read()
    write_replacing(conf, re.sub(r"^MODULES=.*$", "MODULES=list", text, flags=re.M))
    write_replacing(os.path.join(tree, "etc", "initramfs-tools", "modules"), "".join(m + "\n" for m in modules))
    image = os.path.join(tree, "boot", "initrd.img-" + kver)
    if os.path.lexists(image):
        os.unlink(image)  # a hard link into the cached tree: never written through
    with chroot_mounts(tree):
        run(["chroot", tree, "mkinitramfs", "-o", "/boot/initrd.img-" + kver, kver])


def _dev_nodes(root: str, loop: str) -> None:
    """The loop device and its partitions inside the chroot's private /dev (for grub-probe)."""
    name = os.path.basename(loop)
    for entry in [name] + [c for c in os.listdir("/sys/block/" + name) if c.startswith(name + "p")]:
        with open("/sys/class/block/%s/dev" % entry) as fh:
            major, minor = (int(x) for x in fh.read().split(":"))
        os.mknod(os.path.join(root, "dev", entry), 0o60660, os.makedev(major, minor))


def _grub_mkconfig(mnt: str, loop: str, root_name: str, root_partition: int) -> None:
    with chroot_mounts(mnt):
        _dev_nodes(mnt, loop)
        run(["chroot", mnt, "grub-mkconfig", "-o", "/boot/grub/grub.cfg"])
    cfg = os.path.join(mnt, "boot", "grub", "grub.cfg")
    with open(cfg) as fh:
        text = fh.read()
    # grub-mkconfig named this machine's loop device; the server it was made on called it root_name
    text = text.replace("root=%sp%d" % (loop, root_partition), "root=" + root_name)
    assert "root=" + root_name in text and "/dev/loop" not in text, text[-2000:]
    write_replacing(cfg, text)


def build_disk(image: str, tree: str, firmware: str, disk_name: str, modules: List[str],
               network: Optional[Dict[str, str]] = None, extra: Optional[Dict[str, str]] = None) -> None:
    """A whole disk as a server made it: ``disk_name`` ("xvda", "sda") in fstab and grub.cfg."""
    work = tempfile.mkdtemp(prefix="imsprep-disktree-", dir=guests.cache_dir())
    clone = os.path.join(work, "tree")
    try:
        run(["cp", "-al", tree, clone])
        _initramfs_for(clone, modules)
        for path, content in list((network or {}).items()) + list((extra or {}).items()):
            _write(clone, path, content)
        run(["truncate", "-s", "3G", image])
        if firmware == "bios":
            layout, root_part, other = "label: dos\n,2560M,L,*\n,,S\n", 1, 2
            fstab = "# <file system> <mount point> <type> <options> <dump> <pass>\n" \
                    "/dev/{d}1 / ext4 errors=remount-ro 0 1\n/dev/{d}2 none swap sw 0 0\n".format(d=disk_name)
        else:
            layout, root_part, other = "label: gpt\n,100M,U\n,,L\n", 2, 1
            fstab = "# <file system> <mount point> <type> <options> <dump> <pass>\n" \
                    "/dev/{d}2 / ext4 errors=remount-ro 0 1\n/dev/{d}1 /boot/efi vfat umask=0077 0 1\n".format(d=disk_name)
            os.makedirs(os.path.join(clone, "boot", "efi"), exist_ok=True)
        _write(clone, "/etc/fstab", fstab)
        subprocess.run(["sfdisk", "-q", image], input=layout.encode(), check=True, stdout=subprocess.DEVNULL)
        with attached(image) as loop:
            root_dev, other_dev = "%sp%d" % (loop, root_part), "%sp%d" % (loop, other)
            run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", clone, root_dev])
            if firmware == "bios":
                run(["mkswap", "-L", "swap", other_dev])
            else:
                run(["mkfs.vfat", "-F", "32", "-n", "ESP", other_dev])
            with mounted(root_dev) as mnt:
                root_name = "/dev/%s%d" % (disk_name, root_part)
                if firmware == "bios":
                    _install_grub_bios(mnt, loop, root_dev)
                else:
                    _install_grub_efi(mnt, loop, root_dev, other_dev)
                _grub_mkconfig(mnt, loop, root_name, root_part)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _early_config(directory: str, root_dev: str) -> str:
    uuid = run(["blkid", "-p", "-s", "UUID", "-o", "value", root_dev]).stdout.decode().strip()
    path = os.path.join(directory, "early.cfg")
    with open(path, "w") as fh:
        # what grub-install embeds (load.cfg): find the root, set the prefix; normal mode then reads
        # $prefix/grub.cfg by itself (calling configfile here would run it before normal mode starts)
        fh.write("search.fs_uuid %s root\nset prefix=($root)/boot/grub\n" % uuid)
    return path


def _install_grub_bios(mnt: str, loop: str, root_dev: str) -> None:
    """GRUB for i386-pc as grub-install lays it out: boot.img in the MBR's first 440 bytes (the
    partition table kept), core.img in the gap after it (its blocklist, as grub-mkimage writes it,
    points at the sectors right after the first; boot.img's default kernel sector is 1), modules in
    /boot/grub/i386-pc. Done by hand because grub-install finds no GRUB drive for a loop device's
    partitions on this machine ('cannot find a GRUB drive for /dev/loop0p1')."""
    lib = os.path.join(mnt, "usr", "lib", "grub", "i386-pc")
    shutil.copytree(lib, os.path.join(mnt, "boot", "grub", "i386-pc"))
    with tempfile.TemporaryDirectory() as tmp:
        core = os.path.join(tmp, "core.img")
        run(["grub-mkimage", "-O", "i386-pc", "-d", lib, "-c", _early_config(tmp, root_dev), "-p", "/boot/grub", "-o", core,
             "biosdisk", "part_msdos", "ext2", "search", "search_fs_uuid", "configfile", "normal", "echo", "test"])
        assert os.path.getsize(core) < 2047 * 512, "core.img does not fit before the first partition"
        with open(os.path.join(lib, "boot.img"), "rb") as fh:
            boot_img = fh.read(440)
        with open(core, "rb") as fh:
            core_img = fh.read()
        with open(loop, "r+b") as disk:
            disk.write(boot_img)
            disk.seek(512)
            disk.write(core_img)
            disk.flush()
            os.fsync(disk.fileno())


def _install_grub_efi(mnt: str, loop: str, root_dev: str, esp_dev: str) -> None:
    """GRUB for x86_64-efi on the ESP as EFI/BOOT/BOOTX64.EFI (the removable path OVMF boots) and
    EFI/debian/grubx64.efi, its modules in /boot/grub/x86_64-efi, written with mtools."""
    shutil.copytree(os.path.join(mnt, "usr", "lib", "grub", "x86_64-efi"), os.path.join(mnt, "boot", "grub", "x86_64-efi"))
    with tempfile.TemporaryDirectory() as tmp:
        early = _early_config(tmp, root_dev)
        efi = os.path.join(tmp, "BOOTX64.EFI")
        run(["grub-mkimage", "-O", "x86_64-efi", "-d", os.path.join(mnt, "usr", "lib", "grub", "x86_64-efi"), "-c", early,
             "-p", "/boot/grub", "-o", efi, "part_gpt", "part_msdos", "ext2", "fat", "normal", "linux", "search",
             "search_fs_uuid", "configfile", "echo", "gzio", "all_video", "efi_gop", "serial", "terminal", "test"])
        env = {"MTOOLS_SKIP_CHECK": "1"}
        for directory in ("::/EFI", "::/EFI/BOOT", "::/EFI/debian"):
            run(["mmd", "-i", esp_dev, directory], env=env)
        run(["mcopy", "-i", esp_dev, efi, "::/EFI/BOOT/BOOTX64.EFI"], env=env)
        run(["mcopy", "-i", esp_dev, efi, "::/EFI/debian/grubx64.efi"], env=env)


XEN_NETWORK = {"/etc/systemd/network/10-xen.network": "[Match]\nName=enX0\n\n[Network]\nDHCP=yes\n"}


def xen_bios_disk() -> str:
    """Made on XEN: /dev/xvda1 root, /dev/xvda2 swap, xen-blkfront only, network bound to enX0."""
    return cached("disk-xen-bios.raw", lambda tmp: build_disk(tmp, disk_tree(), "bios", "xvda", XEN_MODULES,
                                                              network=XEN_NETWORK))


def xen_uefi_disk() -> str:
    """Made on XEN with UEFI: GPT, /dev/xvda1 ESP at /boot/efi, /dev/xvda2 root."""
    return cached("disk-xen-uefi.raw", lambda tmp: build_disk(tmp, disk_tree(), "uefi", "xvda", XEN_MODULES,
                                                              network=XEN_NETWORK))


def ide_bios_disk() -> str:
    """Made on IDE/SATA hardware: /dev/sda1 root, /dev/sda2 swap, only SATA drivers in the initramfs."""
    return cached("disk-ide-bios.raw", lambda tmp: build_disk(tmp, disk_tree(), "bios", "sda", guests.BROKEN_MODULES))


def ide_cloud_disk() -> str:
    """The IDE/SATA disk with cloud-init."""
    return cached("disk-ide-cloud.raw", lambda tmp: build_disk(tmp, cloud_disk_tree(), "bios", "sda", guests.BROKEN_MODULES))


def ide_cloud_ssh_disk() -> str:
    """Made on IDE/SATA hardware, with cloud-init and an SSH server; never booted."""
    return cached("disk-ide-cloud-ssh.raw", lambda tmp: build_disk(tmp, cloud_ssh_disk_tree(), "bios", "sda",
                                                                   guests.BROKEN_MODULES))


# cloud-init from a NoCloud seed inside the image, pointed at by the SMBIOS serial (test_e2e_disks.py (d))
SEED_DIR = "/var/lib/imsprep-e2e-seed"
SEED_SERIAL = "ds=nocloud;s=file://%s/" % SEED_DIR
# the minimal guest has no locales package: cloud-init's locale module would fail on its own
CLOUD_USER_DATA = "#cloud-config\nlocale: false\n"
LIVED_INSTANCE = "iid-imsprep-lived-1"

# what the guest does in its lived boot, after cloud-init's first boot of LIVED_INSTANCE: an apt run
# (installing imsprep from the package cache), shell sessions of root and of cloud-init's user,
# then it reports what it has
LIVED_ACTION = r"""set -u
deb=$(ls /var/cache/apt/archives/imsprep_*_all.deb)
apt-get install -y -q --no-install-recommends "$deb" || exit 1
printf 'uptime\nimsprep check\nexit\n' | HOME=/root HISTFILE=/root/.bash_history bash -i >/dev/null 2>&1
su - debian -c "printf 'id\nls -la\nexit\n' | HISTFILE=/home/debian/.bash_history bash -i" >/dev/null 2>&1
cloud-init status --long
ls -l /var/lib/dhcp /etc/ssh /var/lib/imsprep/runs /root/.bash_history /home/debian/.bash_history
"""


def write_seed(root: str, instance_id: str, user_data: str = CLOUD_USER_DATA) -> None:
    """The NoCloud seed the next boot reads (a new instance-id makes it a new instance)."""
    _write(root, SEED_DIR + "/user-data", user_data)
    _write(root, SEED_DIR + "/meta-data", "instance-id: %s\nlocal-hostname: imsprep-disk\n" % instance_id)


def set_action(root: str, script: str) -> None:
    """A script the marker runs once at the next boot (its output: Boot.action_output())."""
    _write(root, "/etc/imsprep-e2e/action", "#!/bin/sh\n" + script + "\n", 0o755)


def imsprep_cli(*args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "imsprep"] + list(args), env={"PYTHONPATH": REPO}, cwd=REPO)


LIVED_EVIDENCE = ["/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key.pub", "/var/lib/cloud/instance",
                  "/var/lib/cloud/instances/" + LIVED_INSTANCE, "/var/log/cloud-init.log", "/root/.bash_history",
                  "/home/debian/.bash_history", "/var/log/apt/history.log", "/var/lib/imsprep/runs"]


def lived_cloud_ssh_disk() -> str:
    """A guest that has lived: the IDE/SATA cloud disk fixed by `imsprep fix --image` (its run can
    still be rolled back), then booted on virtio with a NIC and a NoCloud seed: cloud-init's first
    boot (new host keys, user 'debian', ENI network), a DHCP lease from dhclient, machine-id and
    journal, an apt run that installs imsprep from the package cache, shell histories."""

    def build(tmp: str) -> None:
        copy_disk(ide_cloud_ssh_disk(), tmp)
        imsprep_cli("fix", "--image", tmp, "--yes", "--color", "never")
        deb = imsprep_deb()
        with root_of(tmp, 1) as mnt:
            shutil.copyfile(deb, os.path.join(mnt, "var", "cache", "apt", "archives", os.path.basename(deb)))
            write_seed(mnt, LIVED_INSTANCE)
            set_action(mnt, LIVED_ACTION)
        console = tmp + ".console.log"
        result = boot(tmp, console, bus="virtio", nic=True, smbios_serial=SEED_SERIAL, timeout=1500)
        if not result.booted or "IMSPREP-E2E-ACTION rc=0" not in result.console:
            raise RuntimeError("the lived boot failed: %s\n%s" % (result.summary(), result.action_output()[-3000:]))
        log("lived boot: %s" % result.summary())
        with root_of(tmp, 1) as mnt:
            missing = [p for p in LIVED_EVIDENCE if not os.path.lexists(os.path.join(mnt, p.lstrip("/")))]
            leases = glob.glob(os.path.join(mnt, "var/lib/dhcp/dhclient*.lease*"))
        os.unlink(console)
        if missing or not leases:
            raise RuntimeError("the lived boot left no %s (leases: %s)\n%s" % (missing, leases, result.action_output()[-3000:]))

    return cached("disk-virtio-cloud-ssh-lived.raw", build)


def copy_disk(source: str, dest: str) -> str:
    run(["cp", "--sparse=always", source, dest])
    return dest


def build_all() -> None:
    for build in (xen_bios_disk, xen_uefi_disk, ide_bios_disk, ide_cloud_disk, lived_cloud_ssh_disk):
        build()


# ----------------------------------------------------------------------------- booting
class Boot:
    def __init__(self, console: str, seconds: float):
        self.console = console
        self.seconds = seconds
        line = next((ln for ln in console.splitlines() if MARKER in ln), None)
        self.marker = line[line.index(MARKER):] if line else None
        self.fields: Dict[str, str] = {}
        if self.marker:
            for key in ("root", "timeouts", "uptime", "machine-id"):
                match = re.search(r"\b%s=(\S*)" % key, self.marker)
                if match:
                    self.fields[key] = match.group(1)
            for key in ("swap", "failed", "net", "cmdline"):
                match = re.search(r"\b%s=\[([^\]]*)\]" % key, self.marker)
                if match:
                    self.fields[key] = match.group(1).strip()

    @property
    def booted(self) -> bool:
        return self.marker is not None

    @property
    def through_grub(self) -> bool:
        return "BOOT_IMAGE=" in self.fields.get("cmdline", "")

    def action_output(self) -> str:
        return "\n".join(ln.split("IMSPREP-E2E-ACTION-OUT ", 1)[1] for ln in self.console.splitlines()
                         if "IMSPREP-E2E-ACTION-OUT " in ln)

    def summary(self) -> str:
        return self.marker or ("no marker after %.0fs; console tail:\n%s" % (self.seconds, self.console[-4000:]))


def boot(image: str, log_path: str, bus: str = "virtio", firmware: str = "bios", nic: bool = True,
         smbios_serial: Optional[str] = None, timeout: int = 600) -> Boot:
    """Boot the whole disk through its firmware and bootloader (no -kernel) under QEMU TCG."""
    argv = ["timeout", str(timeout), "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1536",
            "-smp", "2", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "file:" + log_path]
    if firmware == "uefi":
        argv += ["-machine", "q35", "-bios", OVMF]
    if bus == "virtio":
        argv += ["-drive", "file=%s,if=virtio,format=raw" % image]
    elif bus == "ide":
        argv += ["-drive", "file=%s,if=ide,format=raw" % image]
    elif bus == "scsi":
        argv += ["-device", "virtio-scsi-pci,id=scsi0", "-drive", "file=%s,if=none,id=d0,format=raw" % image,
                 "-device", "scsi-hd,drive=d0,bus=scsi0.0"]
    else:
        raise ValueError(bus)
    if smbios_serial:
        # how cloud-init's NoCloud is pointed at a seed without a second disk: two disks on one bus
        # may swap names at boot (sd probing is asynchronous), which is the very problem under test
        argv += ["-smbios", "type=1,serial=" + smbios_serial]
    if nic:
        # QEMU's user network, restricted: DHCP (10.0.2.15) inside QEMU, nothing reaches outside
        argv += ["-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"]
    else:
        argv += ["-nic", "none"]
    with open(QEMU_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.time()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        seconds = time.time() - started
    with open(log_path, errors="replace") as fh:
        console = fh.read()
    result = Boot(console, seconds)
    log("boot %s on %s/%s: %s in %.0fs" % (os.path.basename(image), bus, firmware, "booted" if result.booted else "NO MARKER",
                                          seconds))
    return result


if __name__ == "__main__":
    build_all()
