"""extlinux/syslinux: ``DEFAULT`` a label, ``LABEL`` entries with ``KERNEL``/``LINUX``, ``INITRD``
and ``APPEND`` (whose ``initrd=`` counts too). Its ``root=`` is reported; it is not edited."""

from typing import List, Optional, Tuple

from ..system import System
from . import BootConfig, BootEntry, Bootloader, adopt, register

EXTLINUX_CFGS = ["/boot/extlinux/extlinux.conf", "/boot/syslinux/extlinux.conf", "/extlinux.conf",
                 "/boot/syslinux/syslinux.cfg", "/syslinux/syslinux.cfg", "/syslinux.cfg"]


def parse_extlinux(text: str, source: str) -> Tuple[List[BootEntry], Optional[str]]:
    entries: List[BootEntry] = []
    default: Optional[str] = None
    current: Optional[BootEntry] = None
    for number, raw in enumerate(text.splitlines(), 1):
        parts = raw.strip().split(None, 1)
        if not parts or parts[0].startswith("#"):
            continue
        keyword, rest = parts[0].lower(), (parts[1].strip() if len(parts) > 1 else "")
        if keyword == "default":
            default = rest
        elif keyword == "label":
            current = BootEntry(rest, source, number)
            current.id = rest
            current.path = str(len(entries))
            entries.append(current)
        elif current is not None and keyword in ("kernel", "linux"):
            current.kernel = rest.split()[0] if rest else None
        elif current is not None and keyword == "initrd":
            current.initrds.extend(rest.replace(",", " ").split())
        elif current is not None and keyword == "append":
            current.cmdline = rest
            for word in rest.split():
                if word.startswith("initrd="):
                    current.initrds.extend(word[len("initrd="):].split(","))
    return entries, default


@register
class Extlinux(Bootloader):
    name = "extlinux"
    priority = 50

    def read(self, system: System, config: BootConfig) -> bool:
        for path in EXTLINUX_CFGS:
            if system.is_file(path):
                entries, spec = parse_extlinux(system.read_text(path) or "", path)
                if adopt(config, self.name, path, entries, spec):
                    return True
        return False
