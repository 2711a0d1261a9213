"""Filesystem UUIDs for devices named by kernel name. On a live system: blkid on the device, or on
whatever is mounted at the entry's mount point now (the disk may already carry its new name).
Under --root: what is mounted under the root on this machine (its source device, through the
host's blkid), else partition N of the disk that holds the guest's root file system when the guest
names partition N of its own root disk (``/dev/xvda2`` with ``/`` on ``/dev/xvda1``): swap, /boot,
the ESP and data partitions resolve without being mounted. Anything else is reported as unresolved
— naming the device on this machine — never guessed."""

import re
from typing import Dict, Optional, Tuple

from ..system import System
from .hostdisk import guest_partition_number, holding_disk


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def guest_mounts(system: System) -> Dict[str, str]:
    """Guest mount point -> source device, from the mounts of the machine imsprep runs on."""
    text = System("/").read_text("/proc/mounts") or ""
    root = system.root.rstrip("/")
    found: Dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        source, target = _unescape(fields[0]), _unescape(fields[1])
        if system.live:
            found[target] = source
        elif target == root or target.startswith(root + "/"):
            found[target[len(root):] or "/"] = source
    return found


class UuidResolver:
    def __init__(self, system: System):
        self.system = system
        self.mounts = guest_mounts(system)
        self.cache: Dict[str, Optional[str]] = {}
        self.guest_root_disk: Optional[str] = None  # the guest's name of its root disk ("xvda"), when known

    def _blkid(self, device: str, in_guest: bool) -> Optional[str]:
        key = "%s:%s" % (in_guest, device)
        if key not in self.cache:
            result = self.system.run(["blkid", "-s", "UUID", "-o", "value", device], in_guest=in_guest, timeout=30)
            value = result.stdout.strip() if result.ok else ""
            self.cache[key] = value if re.match(r"^[0-9A-Fa-f-]{8,}$", value) else None
        return self.cache[key]

    def resolve(self, device: str, mountpoint: Optional[str]) -> Tuple[Optional[str], str]:
        """(uuid, how) or (None, why not)."""
        if self.system.live and self.system.exists(device):
            uuid = self._blkid(device, in_guest=True)
            if uuid:
                return uuid, "blkid %s" % device
        if mountpoint and mountpoint.startswith("/"):
            source = self.mounts.get(mountpoint)
            if source and source.startswith("/dev/"):
                uuid = self._blkid(source, in_guest=self.system.live)
                if uuid:
                    return uuid, "blkid of %s, mounted at %s" % (source, mountpoint)
                return None, "%s (mounted at %s) has no filesystem UUID" % (source, mountpoint)
        if self.system.live:
            return None, "%s does not exist here and %s is not mounted" % (device, mountpoint or "it")
        return self._on_holding_disk(device, mountpoint)

    def _on_holding_disk(self, device: str, mountpoint: Optional[str]) -> Tuple[Optional[str], str]:
        disk = holding_disk(self.system)
        named = guest_partition_number(device)
        if disk is None:
            return None, "%s is not mounted under %s and the root file system is not on a disk of this machine, " \
                         "so its UUID is unknown" % (mountpoint or device, self.system.root)
        if named is None or self.guest_root_disk is None or named[0] != self.guest_root_disk:
            why = "the guest's root disk name is unknown" if self.guest_root_disk is None or named is None else \
                "it is on another disk than / (/dev/%s in the guest, %s here)" % (self.guest_root_disk, disk.device)
            return None, "%s: %s; attach that disk and mount it under %s%s so its UUID can be read" % (
                device, why, self.system.root.rstrip("/"), mountpoint if mountpoint and mountpoint.startswith("/") else "")
        part = disk.partition(named[1])
        if part is None:
            return None, "%s would be partition %d of %s (the disk holding / here), which has no such partition" % (
                device, named[1], disk.device)
        if not part.uuid:
            return None, "%s is %s here (partition %d of %s), which has no file system or swap UUID (blkid -p %s)" % (
                device, part.device, named[1], disk.device, part.device)
        return part.uuid, "blkid -p %s (partition %d of %s, the disk holding /)" % (part.device, named[1], disk.device)
