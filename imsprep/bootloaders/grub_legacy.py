"""Legacy GRUB (0.97): ``menu.lst``/``grub.conf``, ``default`` an index or ``saved``
(``/boot/grub/default``); edited in place (nothing generates it)."""

import re
from typing import Dict, List, Optional, Tuple

from ..system import System
from . import BootConfig, BootEdit, BootEntry, Bootloader, adopt, fill, kernel_lines_args, register, rewrite_cmdline

LEGACY_CFGS = ["/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf"]
EDITED = ["/boot/grub/menu.lst", "/boot/grub/grub.conf"]  # /etc/grub.conf is a symlink to grub.conf


def parse_legacy(text: str, source: str) -> Tuple[List[BootEntry], Optional[str]]:
    entries: List[BootEntry] = []
    default: Optional[str] = None
    current: Optional[BootEntry] = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(\w+)\s*(?:=|\s)\s*(.*)$", line)
        keyword, rest_text = (match.group(1).lower(), match.group(2).strip()) if match else (line.lower(), "")
        if keyword == "default" and current is None:
            default = rest_text
        elif keyword == "title":
            current = BootEntry(rest_text, source, number)
            current.path = str(len(entries))
            entries.append(current)
        elif current is not None and keyword in ("kernel", "initrd"):
            fill(current, keyword, rest_text.split())
    return entries, default


@register
class GrubLegacy(Bootloader):
    name = "grub-legacy"
    priority = 40

    def read(self, system: System, config: BootConfig) -> bool:
        for path in LEGACY_CFGS:
            if system.is_file(path):
                entries, spec = parse_legacy(system.read_text(path) or "", path)
                if spec == "saved":
                    saved = (system.read_text("/boot/grub/default") or "0").split()
                    spec = saved[0] if saved else "0"
                if adopt(config, self.name, path, entries, spec):
                    return True
        return False

    def cmdline_files(self, system: System) -> List[str]:
        return [p for p in EDITED if system.is_file(p)]

    def can_set_cmdline(self, system: System, boot: BootConfig) -> bool:
        return any(system.is_file(p) for p in EDITED)

    def edits(self, system: System, boot: BootConfig, mapping: Dict[str, str], args: List[str], what: str) -> List[BootEdit]:
        out = []
        for path in [p for p in EDITED if system.is_file(p) and not system.is_symlink(p)]:
            text = system.read_text(path) or ""
            new = kernel_lines_args(rewrite_cmdline(text, mapping), args, r"^\s*kernel\s")
            if new != text:
                out.append(BootEdit(path, text, new, what))
        return out
