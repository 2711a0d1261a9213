"""``--image DISK``: a whole-disk image (raw or qcow2) attached on this machine, its root file
system found and mounted with what the guest's fstab needs under it, then everything undone.

How (each step the host's own tool, never a program of the guest):
- qcow2: exported as a raw file by ``qemu-storage-daemon`` (FUSE export), or ``qemu-nbd`` where the
  nbd driver exists; raw: used as it is.
- ``losetup --partscan`` (read-only for ``check``) and ``partx`` so the partitions appear.
- LVM physical volumes on the disk: their volume groups activated, and deactivated again.
- the root file system: the one whose ``/etc/fstab`` has a ``/`` entry and that has an os-release;
  then ``/boot``, ``/boot/efi``, ``/usr`` and ``/var`` as its fstab says (by UUID, LABEL, PARTUUID,
  or the guest's kernel name mapped to partition N of this disk). A FAT ESP that this kernel cannot
  mount is left unmounted (it is read with mtools where needed).
- mounts are ``nosuid,nodev`` (and ``ro`` plus no journal replay for ``check``) in a private
  directory; on every way out — success, error, Ctrl-C, SIGTERM — they are unmounted in reverse
  order, volume groups deactivated, the loop device and the export detached.
"""

import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import tempfile
import time
from typing import Callable, Dict, Iterator, List, Optional

from .errors import UserError
from .facts.hostdisk import HostDisk, Partition, disk_of, guest_partition_number, probe
from .system import System

LOG = logging.getLogger(__name__)

ROOT_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs")
MOUNT_FIRST = ("/boot", "/boot/efi", "/usr", "/var")
QCOW2_MAGIC = b"QFI\xfb"


class AttachedImage:
    def __init__(self, image: str, writable: bool):
        self.image = image
        self.writable = writable
        self.root: Optional[str] = None
        self.disk: Optional[HostDisk] = None
        self.mounted: List[str] = []  # host mount points, in mount order
        self.notes: List[str] = []
        self._undo: List[Callable[[], object]] = []  # each undoes one step; what it returns is not used
        self._workdir = tempfile.mkdtemp(prefix="imsprep-image-")
        self.host = System("/")

    # ----------------------------------------------------------------- steps
    def _run(self, argv: List[str], what: str, timeout: int = 120) -> str:
        result = self.host.run(argv, in_guest=False, timeout=timeout)
        if not result.ok:
            raise UserError("%s: %s failed (exit %d): %s" % (self.image, what, result.rc,
                                                              (result.stderr or result.stdout).strip()[-300:]))
        return result.stdout

    def _need(self, tool: str, package: str) -> None:
        if not self.host.host_which(tool):
            raise UserError("--image needs %s on this machine (package %s)" % (tool, package))

    def attach(self) -> None:
        if not os.path.exists(self.image):
            raise UserError("--image %s: no such file" % self.image)
        if os.path.isdir(self.image):
            raise UserError("--image %s is a directory; use --root for a guest tree" % self.image)
        with open(self.image, "rb") as fh:
            magic = fh.read(4)
        raw = self.image
        if magic == QCOW2_MAGIC:
            raw = self._export_qcow2()
        elif not os.path.isfile(self.image) and not os.path.exists("/sys/class/block/" + os.path.basename(self.image)):
            raise UserError("--image %s is neither a disk image file nor a block device" % self.image)
        self._need("losetup", "util-linux")
        if os.path.isfile(raw):
            argv = ["losetup", "--find", "--show", "--partscan"] + ([] if self.writable else ["--read-only"]) + [raw]
            loop = self._run(argv, "losetup").strip()
            self._undo.append(lambda: self._detach_loop(loop))
            device = loop
        else:
            device = raw  # an nbd device or a block device given directly
        if self.host.host_which("partx"):
            self.host.run(["partx", "-a", device], in_guest=False, timeout=60)  # no-op where the kernel already did
        self._settle(device)
        disk = disk_of(self.host, device)
        if disk is None:
            raise UserError("--image %s: attached as %s, but its partitions could not be read" % (self.image, device))
        self.disk = disk
        self._activate_lvm(disk)

    def _export_qcow2(self) -> str:
        target = os.path.join(self._workdir, "disk.raw")
        if self.host.host_which("qemu-storage-daemon") and os.path.exists("/dev/fuse"):
            open(target, "w").close()
            pidfile = os.path.join(self._workdir, "qsd.pid")
            argv = ["qemu-storage-daemon",
                    "--blockdev", "driver=file,node-name=file,filename=%s" % self._escape(os.path.abspath(self.image))
                    + ("" if self.writable else ",read-only=on"),
                    "--blockdev", "driver=qcow2,node-name=disk,file=file" + ("" if self.writable else ",read-only=on"),
                    "--export", "type=fuse,id=imsprep,node-name=disk,mountpoint=%s,writable=%s"
                    % (self._escape(target), "on" if self.writable else "off"),
                    "--daemonize", "--pidfile", pidfile]
            self._run(argv, "qemu-storage-daemon (qcow2 export)")
            self._undo.append(lambda: self._stop_daemon(pidfile, target))
            return target
        if self.host.host_which("qemu-nbd") and os.path.exists("/dev/nbd0"):
            for index in range(16):
                device = "/dev/nbd%d" % index
                if os.path.exists(device) and _sys_size("/sys/block/nbd%d/size" % index) == 0:
                    argv = ["qemu-nbd", "--connect", device, "--format", "qcow2"] + ([] if self.writable else ["--read-only"])
                    self._run(argv + [self.image], "qemu-nbd")
                    self._undo.append(functools.partial(self.host.run, ["qemu-nbd", "--disconnect", device],
                                                        in_guest=False, timeout=60))
                    return device
        raise UserError("--image %s is qcow2: this machine needs qemu-storage-daemon with /dev/fuse, or qemu-nbd with the "
                        "nbd driver (package qemu-utils); or convert it: qemu-img convert -O raw" % self.image)

    @staticmethod
    def _escape(value: str) -> str:
        return value.replace(",", ",,")

    def _stop_daemon(self, pidfile: str, target: str) -> None:
        try:
            with open(pidfile) as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        for _ in range(100):  # it flushes the qcow2 and unmounts the FUSE export before it exits
            if not os.path.exists("/proc/%d" % pid):
                return
            time.sleep(0.1)
        LOG.warning("qemu-storage-daemon %d did not stop; killing it", pid)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

    def _detach_loop(self, loop: str) -> None:
        if self.host.host_which("partx"):
            self.host.run(["partx", "-d", loop], in_guest=False, timeout=60)
        self.host.run(["losetup", "--detach", loop], in_guest=False, timeout=60)

    @staticmethod
    def _settle(device: str) -> None:
        """Partition nodes appear asynchronously; wait up to 5 s for those the kernel lists."""
        name = os.path.basename(device)
        for _ in range(50):
            try:
                children = [c for c in os.listdir("/sys/block/" + name) if c.startswith(name)]
            except OSError:
                return
            if all(os.path.exists("/dev/" + c) for c in children):
                return
            time.sleep(0.1)

    def _activate_lvm(self, disk: HostDisk) -> None:
        pvs = [p for p in disk.partitions if p.fstype == "LVM2_member"]
        if not pvs:
            return
        if not self.host.host_which("lvm"):
            self.notes.append("%s holds LVM physical volumes but lvm is not installed here (package lvm2)" % disk.device)
            return
        groups: List[str] = []
        for pv in pvs:
            out = self.host.run(["lvm", "pvs", "--noheadings", "-o", "vg_name", "--devices", pv.device, pv.device],
                                in_guest=False, timeout=60).stdout.strip()
            if out and out not in groups:
                groups.append(out)
        for group in groups:
            devices = [a for p in pvs for a in ("--devices", p.device)]
            self._run(["lvm", "vgchange", "-ay"] + devices + [group], "vgchange -ay %s" % group)
            self._undo.append(functools.partial(self.host.run, ["lvm", "vgchange", "-an"] + devices + [group],
                                                in_guest=False, timeout=60))
            out = self.host.run(["lvm", "lvs", "--noheadings", "-o", "lv_path"] + devices + [group], in_guest=False,
                                timeout=60).stdout
            for number, path in enumerate(out.split(), start=1001):
                real = os.path.realpath(path)
                disk.partitions.append(Partition(number, real, probe(self.host, real)))
                self.notes.append("LVM volume %s (%s)" % (path, real))

    # ----------------------------------------------------------------- mounts
    def _mount(self, device: str, target: str, fstype: Optional[str]) -> bool:
        options = ["nosuid", "nodev"]
        if not self.writable:
            options.append("ro")
            if fstype in ("ext3", "ext4"):
                options.append("noload")
            elif fstype == "xfs":
                options.append("norecovery")
        argv = ["mount", "-o", ",".join(options)] + (["-t", fstype] if fstype else []) + [device, target]
        result = self.host.run(argv, in_guest=False, timeout=120)
        if not result.ok:
            LOG.debug("mount %s on %s: %s", device, target, result.stderr.strip())
            return False
        self.mounted.append(target)
        return True

    def _umount(self, target: str) -> None:
        result = self.host.run(["umount", target], in_guest=False, timeout=120)
        if not result.ok:
            LOG.warning("umount %s: %s; detaching it lazily", target, result.stderr.strip())
            self.host.run(["umount", "--lazy", target], in_guest=False, timeout=60)

    def find_root(self) -> None:
        assert self.disk is not None
        candidates = [p for p in self.disk.partitions if p.fstype in ROOT_FSTYPES]
        if not candidates:
            raise UserError("--image %s: no partition with a Linux root file system (%s) was found on %s"
                            % (self.image, "/".join(ROOT_FSTYPES), self.disk.device))
        root = os.path.join(self._workdir, "root")
        os.mkdir(root, 0o700)
        for part in candidates:
            if not self._mount(part.device, root, part.fstype):
                continue
            guest = System(root)
            if _fstab_root(guest) and (guest.exists("/etc/os-release") or guest.exists("/usr/lib/os-release")
                                       or guest.glob("/etc/*-release")):
                self.root = root
                self.notes.append("root file system: %s (partition %d of %s)" % (part.device, part.number, self.disk.device))
                return
            self._umount(root)
            self.mounted.remove(root)
        raise UserError("--image %s: none of %s holds a Linux root file system (/etc/fstab with a / entry and an os-release)"
                        % (self.image, ", ".join(p.device for p in candidates)))

    def mount_fstab(self) -> None:
        """/boot, /boot/efi, /usr and /var as the guest's fstab says, when they are on this disk."""
        assert self.root is not None and self.disk is not None
        guest = System(self.root)
        entries = _fstab_entries(guest)
        root_spec = next((spec for spec, mnt, _ in entries if mnt == "/"), None)
        root_named = guest_partition_number(root_spec) if root_spec else None
        for spec, mountpoint, fstype in entries:
            if mountpoint not in MOUNT_FIRST:
                continue
            part = self._partition_for(spec, root_named[0] if root_named else None)
            if part is None:
                self.notes.append("%s (%s) is not on %s: left unmounted" % (mountpoint, spec, self.disk.device))
                continue
            try:
                target = guest.host_path(mountpoint)
            except OSError:
                self.notes.append("%s: its mount point is a symlink loop in the guest; left unmounted" % mountpoint)
                continue
            if not target.startswith(self.root.rstrip("/") + "/") or not os.path.isdir(target) or os.path.islink(target):
                self.notes.append("%s: no directory to mount it on in the guest; left unmounted" % mountpoint)
                continue
            kind = part.fstype or (fstype if fstype not in ("auto", "") else None)
            if self._mount(part.device, target, kind):
                self.notes.append("mounted %s (%s) at %s" % (part.device, spec, mountpoint))
            else:
                self.notes.append("%s (%s, %s) could not be mounted on this machine; read without mounting where needed"
                                  % (part.device, kind or "unknown type", mountpoint))

    def _partition_for(self, spec: str, root_disk: Optional[str]) -> Optional[Partition]:
        assert self.disk is not None
        key, _, value = spec.partition("=")
        by_key = {"UUID": "UUID", "LABEL": "LABEL", "PARTUUID": "PART_ENTRY_UUID", "PARTLABEL": "PART_ENTRY_NAME"}
        if key in by_key and value:
            value = value.strip("\"'")
            return next((p for p in self.disk.partitions if p.info.get(by_key[key], "").lower() == value.lower()), None)
        match = re.match(r"^/dev/disk/by-(uuid|label|partuuid)/(.+)$", spec)
        if match:
            return self._partition_for("%s=%s" % ({"uuid": "UUID", "label": "LABEL", "partuuid": "PARTUUID"}[match.group(1)],
                                                  match.group(2)), root_disk)
        named = guest_partition_number(spec)
        if named and root_disk and named[0] == root_disk:
            return self.disk.partition(named[1])
        return None

    def detach(self) -> None:
        for target in reversed(self.mounted):
            self._umount(target)
        self.mounted = []
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception as exc:  # noqa: BLE001 - every later step must still run
                LOG.warning("cleanup step failed: %s", exc)
        self._undo = []
        shutil.rmtree(self._workdir, ignore_errors=True)


def _sys_size(path: str) -> int:
    try:
        with open(path) as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return -1


def _fstab_entries(guest: System) -> List[tuple]:
    entries = []
    for line in (guest.read_text("/etc/fstab") or "").splitlines():
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("#"):
            entries.append((fields[0], fields[1], fields[2]))
    return entries


def _fstab_root(guest: System) -> bool:
    return any(mnt == "/" for _, mnt, _ in _fstab_entries(guest))


@contextlib.contextmanager
def attached(image: str, writable: bool) -> Iterator[AttachedImage]:
    """The image attached and its guest mounted; undone on every way out, SIGTERM and SIGHUP
    included (they are turned into an exception here so the cleanup below runs)."""
    if os.geteuid() != 0:
        raise UserError("--image needs root (it attaches a loop device and mounts file systems)")
    attachment = AttachedImage(image, writable)
    previous: Dict[int, object] = {}  # signal number -> the handler it had

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt("signal %d" % signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            if signal.getsignal(signum) == signal.SIG_DFL:  # the CLI's own handler (imsprep.signals) already raises
                previous[signum] = signal.signal(signum, on_signal)
    try:
        attachment.attach()
        attachment.find_root()
        attachment.mount_fstab()
        yield attachment
    finally:
        attachment.detach()
        for number, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(number, handler)  # type: ignore[arg-type]
