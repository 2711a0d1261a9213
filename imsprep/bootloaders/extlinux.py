"""extlinux/syslinux: ``DEFAULT`` a label, ``LABEL`` entries with ``KERNEL``/``LINUX``, ``INITRD``
and ``APPEND`` (whose ``initrd=`` counts too). Nothing generates the file for imsprep to rerun
(Alpine's update-extlinux rewrites it from /etc/update-extlinux.conf, which keeps ``root=`` by
UUID already), so the kernel command line is edited in place: ``root=``/``resume=`` by UUID on
every line, and extra kernel arguments on every ``APPEND`` line (keywords are case-insensitive; a
``LABEL`` with a kernel and no ``APPEND`` of its own gets one when no global ``APPEND`` applies;
``APPEND -``, "no arguments", becomes the arguments)."""

import re
from typing import Dict, List, Optional, Tuple

from ..system import System
from . import BootConfig, BootEdit, BootEntry, Bootloader, adopt, register, rewrite_cmdline

EXTLINUX_CFGS = ["/boot/extlinux/extlinux.conf", "/boot/syslinux/extlinux.conf", "/extlinux/extlinux.conf",
                 "/extlinux.conf", "/boot/extlinux.conf",
                 "/boot/syslinux/syslinux.cfg", "/syslinux/syslinux.cfg", "/syslinux.cfg"]
KEYWORD = re.compile(r"^(\s*)(\S+)(\s*)(.*?)(\s*)$")


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

    def cmdline_files(self, system: System) -> List[str]:
        return [p for p in EXTLINUX_CFGS if system.is_file(p)]

    def can_set_cmdline(self, system: System, boot: BootConfig) -> bool:
        return any(system.is_file(p) and not system.is_symlink(p) for p in EXTLINUX_CFGS)

    def edits(self, system: System, boot: BootConfig, mapping: Dict[str, str], args: List[str], what: str) -> List[BootEdit]:
        out = []
        for path in [p for p in EXTLINUX_CFGS if system.is_file(p) and not system.is_symlink(p)]:
            text = system.read_text(path) or ""
            new = rewrite_cmdline(text, mapping)
            if args:
                new = append_args(new, args)
            if new != text:
                out.append(BootEdit(path, text, new, what))
        return out


def _keyword(line: str) -> str:
    parts = line.split(None, 1)
    return parts[0].lower() if parts and not parts[0].startswith("#") else ""


def append_args(text: str, args: List[str]) -> str:
    """``args`` on every ``APPEND`` line where missing; a ``LABEL`` whose kernel has no ``APPEND``
    (and no global one to inherit) gets an ``APPEND`` line after its kernel line."""
    lines = text.splitlines(True)
    out: List[str] = []
    global_append = any(_keyword(line) == "append" for line in _global_lines(lines))
    label_kernel: Optional[int] = None  # index in out of the current label's kernel line
    label_append = False

    def close_label() -> None:
        if label_kernel is not None and not label_append and not global_append:
            kernel_line = out[label_kernel]
            indent = kernel_line[: len(kernel_line) - len(kernel_line.lstrip())]
            if not kernel_line.endswith("\n"):
                out[label_kernel] = kernel_line + "\n"
            out.insert(label_kernel + 1, "%sAPPEND %s\n" % (indent, " ".join(args)))

    for line in lines:
        keyword = _keyword(line)
        if keyword == "label":
            close_label()
            label_kernel, label_append = None, False
        elif keyword in ("kernel", "linux") and label_kernel is None:
            label_kernel = len(out)
        elif keyword == "append":
            label_append = True
            line = _with_args(line, args)
        out.append(line)
    close_label()
    return "".join(out)


def _global_lines(lines: List[str]) -> List[str]:
    out = []
    for line in lines:
        if _keyword(line) == "label":
            break
        out.append(line)
    return out


def _with_args(line: str, args: List[str]) -> str:
    match = KEYWORD.match(line.rstrip("\n"))
    if not match:
        return line
    indent, keyword, space, rest, trail = match.groups()
    words = [] if rest.strip() == "-" else rest.split()
    missing = [a for a in args if a not in words]
    if not missing:
        return line
    rest = " ".join(missing) if rest.strip() in ("", "-") else rest + " " + " ".join(missing)
    return indent + keyword + (space or " ") + rest + trail + ("\n" if line.endswith("\n") else "")
