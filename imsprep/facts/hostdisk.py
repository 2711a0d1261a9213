"""The disk that holds a guest, as this machine sees it.

Offline, a guest's kernel names (``/dev/xvda2``) do not exist here, but its partitions do: the root
filesystem under ``--root`` is mounted from a partition of some disk on this machine (a loop device
of an image, a second disk of a helper VM), and partition N of the guest's root disk is partition N
of that disk. Everything here uses the host's own tools on the host's block devices (``blkid -p``
reads superblocks and partition tables, ``mdir`` reads a FAT file system without mounting it): no
program of the guest runs, nothing is written."""

import logging
import os
import re
from typing import Dict, List, Optional

from ..system import System

LOG = logging.getLogger(__name__)

ESP_GPT_TYPE = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
BIOS_BOOT_GPT_TYPE = "21686148-6449-6e6f-744e-656564454649"
ESP_MBR_TYPE = "0xef"
# a guest's kernel name for a partition: disk name + partition number
GUEST_PARTITION = re.compile(r"^/dev/((?:xvd|sd|vd|hd)[a-z]+|nvme\d+n\d+|mmcblk\d+)p?(\d+)$")


class Partition:
    def __init__(self, number: int, device: str, info: Dict[str, str]):
        self.number = number
        self.device = device
        self.info = info

    @property
    def uuid(self) -> Optional[str]:
        return self.info.get("UUID")

    @property
    def fstype(self) -> Optional[str]:
        return self.info.get("TYPE")

    @property
    def part_type(self) -> str:
        return self.info.get("PART_ENTRY_TYPE", "").lower()

    @property
    def is_esp(self) -> bool:
        return self.part_type in (ESP_GPT_TYPE, ESP_MBR_TYPE)

    def to_dict(self) -> Dict[str, object]:
        return {"number": self.number, "device": self.device, "fstype": self.fstype, "uuid": self.uuid,
                "esp": self.is_esp}


class HostDisk:
    """A whole disk on this machine and its partitions."""

    def __init__(self, device: str, scheme: Optional[str], partitions: List[Partition], how: str):
        self.device = device
        self.scheme = scheme  # gpt | dos | None
        self.partitions = partitions
        self.how = how  # how it was found, for messages

    def partition(self, number: int) -> Optional[Partition]:
        return next((p for p in self.partitions if p.number == number), None)

    @property
    def esp(self) -> Optional[Partition]:
        return next((p for p in self.partitions if p.is_esp), None)

    @property
    def bios_boot(self) -> Optional[Partition]:
        return next((p for p in self.partitions if p.part_type == BIOS_BOOT_GPT_TYPE), None)

    def to_dict(self) -> Dict[str, object]:
        return {"device": self.device, "scheme": self.scheme, "how": self.how,
                "partitions": [p.to_dict() for p in self.partitions]}


def _sys_text(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read(4096).strip()
    except OSError:
        return ""


def probe(host: System, device: str) -> Dict[str, str]:
    """``blkid -p`` of a host block device: superblock and partition-entry fields."""
    result = host.run(["blkid", "-p", "-o", "export", device], in_guest=False, timeout=30)
    info: Dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    return info


def disk_of(host: System, device: str) -> Optional[HostDisk]:
    """The whole disk ``device`` (``/dev/loop0``) with its partitions, or the disk that holds the
    partition ``device`` (``/dev/loop0p1``)."""
    name = os.path.basename(os.path.realpath(device)) if device.startswith("/dev/") else ""
    if not name or not os.path.isdir("/sys/class/block/" + name):
        return None
    if os.path.exists("/sys/class/block/%s/partition" % name):
        parent = os.path.basename(os.path.dirname(os.path.realpath("/sys/class/block/" + name)))
        how = "%s is partition %s of /dev/%s" % (device, _sys_text("/sys/class/block/%s/partition" % name), parent)
        name = parent
    else:
        how = "whole disk %s" % device
    partitions: List[Partition] = []
    scheme = None
    try:
        children = sorted(os.listdir("/sys/block/" + name))
    except OSError:
        children = []
    for child in children:
        number = _sys_text("/sys/block/%s/%s/partition" % (name, child))
        if not number.isdigit():
            continue
        part_device = "/dev/" + child
        info = probe(host, part_device) if os.path.exists(part_device) else {}
        scheme = scheme or info.get("PART_ENTRY_SCHEME")
        partitions.append(Partition(int(number), part_device, info))
    partitions.sort(key=lambda p: p.number)
    return HostDisk("/dev/" + name, scheme, partitions, how)


def mount_sources(system: System) -> Dict[str, str]:
    """Guest mount point -> source device, from this machine's mount table."""
    from .uuids import guest_mounts

    return guest_mounts(system)


def holding_disk(system: System) -> Optional[HostDisk]:
    """The disk on this machine that holds the guest's root file system (offline only)."""
    if system.live:
        return None
    cached = getattr(system, "disk", None)
    if cached is not None:
        return cached
    source = mount_sources(system).get("/")
    if not source or not source.startswith("/dev/"):
        return None
    disk = disk_of(System("/"), source)
    if disk is not None:
        system.disk = disk
    return disk


def guest_partition_number(device: str) -> Optional[tuple]:
    """(disk name, partition number) of a guest kernel name such as /dev/xvda2."""
    match = GUEST_PARTITION.match(device)
    if not match:
        return None
    return match.group(1), int(match.group(2))


def esp_listing(host: System, partition: Partition) -> Optional[List[str]]:
    """Paths under /EFI on an unmounted FAT ESP, read with mtools (never mounted, never written)."""
    if not host.host_which("mdir"):
        return None
    result = host.run(["mdir", "-i", partition.device, "-/", "-b", "::/EFI"], in_guest=False, timeout=30,
                      env={"MTOOLS_SKIP_CHECK": "1"})
    if not result.ok:
        LOG.debug("mdir on %s: %s", partition.device, result.stderr.strip())
        return None
    return [line.strip()[2:] if line.strip().startswith("::") else line.strip() for line in result.stdout.splitlines() if line.strip()]
