"""Boot Loader Specification entries in ``/boot/loader/entries/*.conf`` as GRUB's ``blscfg`` reads
them (RHEL 8+, Fedora): ``$kernelopts`` and other variables come from grubenv, whose ``kernelopts``
(a fixed 1024-byte block) is edited with the entries."""

import re
from typing import Dict, List

from ..system import System
from . import BootConfig, BootEdit, BootEntry, Bootloader, entry_edits, register, rewrite_cmdline, select, version_key
from .grub2 import GRUBENV, read_grubenv

ENTRIES = "/boot/loader/entries"


def _expand(value: str, grubenv: Dict[str, str]) -> str:
    """``$kernelopts``/``${tuned_initrd}`` from grubenv; unknown variables become empty, as in grub."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: grubenv.get(m.group(1), ""), value).strip()


def parse_bls(system: System, grubenv: Dict[str, str], directory: str = ENTRIES) -> List[BootEntry]:
    entries = []
    for path in system.glob(directory + "/*.conf"):
        text = system.read_text(path) or ""
        entry = BootEntry("", path, 1)
        entry.id = path.rsplit("/", 1)[-1][: -len(".conf")]
        for raw in text.splitlines():
            key, _, value = raw.strip().partition(" ")
            value = value.strip()
            if key == "title":
                entry.title = value
            elif key == "version":
                entry.version = value
            elif key == "linux":
                entry.kernel = value
            elif key == "initrd":
                entry.initrds.extend(_expand(value, grubenv).split())
            elif key == "options":
                entry.cmdline = _expand(value, grubenv)
            elif key == "sort-key":
                entry.sort_key = value
        entries.append(entry)
    # grub's blscfg sorts newest version first
    entries.sort(key=lambda e: (version_key(e.version or e.id or ""), e.id or ""), reverse=True)
    for index, entry in enumerate(entries):
        entry.path = str(index)
    return entries


def _grubenv_edit(system: System, path: str, mapping: Dict[str, str]) -> List[BootEdit]:
    old = system.read_text(path)
    if old is None:
        return []
    new = rewrite_cmdline(old, mapping)
    if new == old:
        return []
    # grubenv is a fixed 1024-byte block: keep its size by trimming or adding '#' padding
    body = new.rstrip("#")
    padded = body + "#" * max(0, len(old.encode()) - len(body.encode()))
    return [BootEdit(path, old, padded, "kernelopts by UUID")]


@register
class Bls(Bootloader):
    name = "bls"
    priority = 30

    def read(self, system: System, config: BootConfig) -> bool:
        if not system.glob(ENTRIES + "/*.conf"):
            return False
        grubenv = read_grubenv(system)
        entries = parse_bls(system, grubenv)
        config.loader = self.name
        config.files.append(ENTRIES)
        config.entries = entries
        config.default_spec = grubenv.get("saved_entry")
        config.default = select(entries, config.default_spec) or (entries[0] if entries else None)
        return True

    def cmdline_files(self, system: System) -> List[str]:
        return [p for p in GRUBENV if system.is_file(p)] + system.glob(ENTRIES + "/*.conf")

    def can_set_cmdline(self, system: System, boot: BootConfig) -> bool:
        return bool(system.glob(ENTRIES + "/*.conf"))

    def edits(self, system: System, boot: BootConfig, mapping: Dict[str, str], args: List[str], what: str) -> List[BootEdit]:
        out = entry_edits(system, system.glob(ENTRIES + "/*.conf"), mapping, args, what)
        if mapping:
            for path in GRUBENV:
                if system.is_file(path) and not system.is_symlink(path):
                    out += _grubenv_edit(system, path, mapping)
        return out
