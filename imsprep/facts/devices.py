"""Block-device references that name a disk by its kernel name (``/dev/xvda1``), which changes
between hypervisors (``xvda`` on XEN, ``vda`` on KVM). ``UUID=``, ``LABEL=``, ``PARTUUID=``,
``/dev/mapper/*`` and LVM names are stable and never reported."""

import logging
import re
from typing import Dict, List, Optional

from .. import bootloaders
from ..bootloaders import BootConfig
from ..system import System

KERNEL_NAME = re.compile(r"^/dev/(xvd[a-z]+|vd[a-z]+|sd[a-z]+|hd[a-z]+)(p?\d+)?$")
BY_ID = re.compile(r"^/dev/disk/by-(id|path)/")
CMDLINE_KEYS = ("root", "resume")
MAX_REFS_PER_FILE = 1000  # a hostile file of a million device lines must not become a million findings
LOG = logging.getLogger(__name__)


def _capped(path: str, count: int) -> bool:
    """True once ``path`` has given MAX_REFS_PER_FILE references (said once, on stderr)."""
    if count < MAX_REFS_PER_FILE:
        return False
    LOG.warning("%s names more than %d disks by kernel name: only the first %d are reported and fixed",
                path, MAX_REFS_PER_FILE, MAX_REFS_PER_FILE)
    return True


def classify_device(spec: str) -> Optional[str]:
    """``xvd``/``vd``/``sd``/``hd`` for a kernel device name, ``by-id``/``by-path``, else None."""
    match = KERNEL_NAME.match(spec)
    if match:
        return re.match(r"(xvd|vd|sd|hd)", match.group(1)).group(1)  # type: ignore[union-attr]
    match = BY_ID.match(spec)
    if match:
        return "by-" + match.group(1)
    return None


class DeviceRef:
    def __init__(self, path: str, line: int, context: str, device: str, kind: str, text: str):
        self.path = path
        self.line = line
        self.context = context  # fstab mountpoint, "root=", "resume=", ...
        self.device = device
        self.kind = kind
        self.text = text

    def to_dict(self) -> Dict[str, object]:
        return {"file": self.path, "line": self.line, "context": self.context,
                "device": self.device, "kind": self.kind, "text": self.text}


def fstab_refs(system: System, path: str = "/etc/fstab") -> List[DeviceRef]:
    refs = []
    text = system.read_text(path) or ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        kind = classify_device(fields[0])
        if kind:
            mount = fields[1] if len(fields) > 1 else "?"
            if mount == "none" and len(fields) > 2:
                mount = fields[2]  # swap
            refs.append(DeviceRef(path, number, mount, fields[0], kind, raw.rstrip()))
            if _capped(path, len(refs)):
                break
    return refs


def crypttab_refs(system: System) -> List[DeviceRef]:
    refs = []
    text = system.read_text("/etc/crypttab") or ""
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if len(fields) >= 2 and not fields[0].startswith("#"):
            kind = classify_device(fields[1])
            if kind:
                refs.append(DeviceRef("/etc/crypttab", number, fields[0], fields[1], kind, raw.rstrip()))
                if _capped("/etc/crypttab", len(refs)):
                    break
    return refs


def _cmdline_refs(text: str, path: str, number: int) -> List[DeviceRef]:
    refs = []
    for word in re.split(r"[\s\"']+", text):
        key, _, value = word.partition("=")
        if key in CMDLINE_KEYS and value:
            kind = classify_device(value)
            if kind:
                refs.append(DeviceRef(path, number, key + "=", value, kind, text.strip()))
    return refs


def bootloader_refs(system: System, boot: BootConfig) -> List[DeviceRef]:
    """``root=``/``resume=`` in the boot configuration read and in every file any bootloader keeps a
    kernel command line in (``/etc/default/grub``, grubenv, BLS entries, ...), line by line, plus the
    bootloaders' device maps."""
    refs: List[DeviceRef] = []
    files = list(boot.files)
    for loader in bootloaders.registered():
        files += [p for p in loader.cmdline_files(system) if p not in files]
    for path in files:
        if path.endswith("/entries"):
            continue
        text = system.read_text(path) or ""
        before = len(refs)
        for number, raw in enumerate(text.splitlines(), 1):
            if raw.lstrip().startswith("#"):
                continue
            refs += _cmdline_refs(raw, path, number)
            if _capped(path, len(refs) - before):
                break
    for path in [p for loader in bootloaders.registered() for p in loader.device_map_files(system)]:
        text = system.read_text(path) or ""
        before = len(refs)
        for number, raw in enumerate(text.splitlines(), 1):
            fields = raw.split()
            if len(fields) >= 2 and classify_device(fields[1]):
                refs.append(DeviceRef(path, number, fields[0], fields[1], classify_device(fields[1]) or "", raw.strip()))
                if _capped(path, len(refs) - before):
                    break
    return refs
