"""Bootloaders as strategies, one module each, found through a registry.

A :class:`Bootloader` knows its configuration files, how to read its entries and its default entry
(kernel and initrd paths included), which files carry a kernel command line (where ``root=`` or
``resume=`` may name a disk by its kernel name), and how to change that command line (edit the file,
or regenerate it). ``imsprep.facts.bootloader`` reads the boot configuration through them,
``imsprep.facts.devices`` finds kernel device names through them and ``imsprep.fix.stable_names``
turns their :class:`BootEdit` objects into actions. Adding a bootloader is one new module here (a
subclass decorated with :func:`register`, imported at the end of this file) plus its fixture.

Two orders: detection (``priority``, lowest first: the first bootloader whose configuration is
found is the one that boots) and registration (the order of the imports at the end of this file:
the order in which command-line files are scanned and edited).
"""

import re
from typing import Dict, List, Optional, Type

from ..system import System


class BootEntry:
    def __init__(self, title: str, source: str, line: int):
        self.title = title
        self.id: Optional[str] = None
        self.kernel: Optional[str] = None  # as written
        self.kernel_path: Optional[str] = None  # resolved guest path
        self.initrds: List[str] = []
        self.initrd_paths: List[str] = []
        self.cmdline = ""
        self.source = source
        self.line = line
        self.path = ""  # grub's ">"-separated index path, e.g. "1>2"
        self.version: Optional[str] = None
        self.sort_key: Optional[str] = None  # Boot Loader Specification sort-key

    def to_dict(self) -> Dict[str, object]:
        return {"title": self.title, "id": self.id, "kernel": self.kernel_path or self.kernel,
                "initrd": self.initrd_paths or self.initrds, "cmdline": self.cmdline,
                "source": self.source, "line": self.line}


class BootConfig:
    def __init__(self):
        self.loader: Optional[str] = None
        self.files: List[str] = []
        self.entries: List[BootEntry] = []
        self.default: Optional[BootEntry] = None
        self.default_spec: Optional[str] = None
        self.notes: List[str] = []

    def to_dict(self) -> Dict[str, object]:
        return {"loader": self.loader, "files": self.files, "default_spec": self.default_spec,
                "default": self.default.to_dict() if self.default else None,
                "entries": [e.to_dict() for e in self.entries], "notes": self.notes}


class BootEdit:
    """One planned change of a boot file, as plain data: the fix layer makes it an action.
    ``generator``: the file is generated; run this program (``-o FILE``) and keep ``new`` as the
    in-place fallback; ``kernel_args``/``by_uuid`` say what the regenerated file must carry."""

    def __init__(self, path: str, old: Optional[str], new: str, why: str, generator: Optional[str] = None,
                 kernel_args: Optional[List[str]] = None, by_uuid: bool = False):
        self.path = path
        self.old = old
        self.new = new
        self.why = why
        self.generator = generator
        self.kernel_args = kernel_args or []
        self.by_uuid = by_uuid


class Bootloader:
    """One bootloader. Subclasses set ``name`` (the ``loader`` of a BootConfig) and ``priority``."""

    name = ""
    priority = 100

    def read(self, system: System, config: BootConfig) -> bool:
        """Fill ``config`` if this bootloader's configuration is in the guest; True if it was adopted."""
        return False

    def cmdline_files(self, system: System) -> List[str]:
        """Files of this bootloader whose lines may carry ``root=``/``resume=``, present in the guest,
        whether or not this is the bootloader that boots (a stale one is fixed too)."""
        return []

    def device_map_files(self, system: System) -> List[str]:
        """Files mapping the bootloader's disks to kernel device names (``(hd0) /dev/xvda``)."""
        return []

    def can_set_cmdline(self, system: System, boot: BootConfig) -> bool:
        """Whether :meth:`edits` can put arguments on the kernel command line of this guest."""
        return False

    def edits(self, system: System, boot: BootConfig, mapping: Dict[str, str], args: List[str], what: str) -> List[BootEdit]:
        """Edits putting ``root=``/``resume=`` by UUID (``mapping``: kernel device name -> UUID) and
        the kernel ``args`` on this bootloader's command lines; ``what`` says it for a person."""
        return []


_REGISTRY: Dict[str, Bootloader] = {}


def register(cls: Type[Bootloader]) -> Type[Bootloader]:
    """Class decorator: one instance of ``cls`` becomes the strategy for ``cls.name``."""
    assert cls.name and cls.name not in _REGISTRY, cls.name
    _REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> Bootloader:
    """The strategy of a ``BootConfig.loader`` value; KeyError for an unknown name."""
    return _REGISTRY[name]


def registered() -> List[Bootloader]:
    """Every bootloader, in registration order."""
    return list(_REGISTRY.values())


def detection_order() -> List[Bootloader]:
    return sorted(_REGISTRY.values(), key=lambda b: b.priority)


# -- shared by the readers --------------------------------------------------------------------

def resolve_boot_path(system: System, path: str, boot_partition: bool = False) -> str:
    """Map a path as written in a boot config to a guest path. ``boot_partition``: the entry's
    other paths were found relative to a separate /boot, so this one is too."""
    path = re.sub(r"^\([^)]*\)", "", path.strip())  # (hd0,msdos1)/vmlinuz, ($root)/...
    if not path.startswith("/"):
        path = "/" + path
    if path.startswith("/boot/") and system.exists(path):
        return path
    if system.exists("/boot" + path) or (boot_partition and not path.startswith("/boot/")):
        return "/boot" + path
    return path


def version_key(version: str) -> List[object]:
    """Kernel versions in their natural order (imsprep.facts.kernels' key, imported when first
    needed: the facts package itself reads the boot configuration through this one)."""
    from ..facts.kernels import version_key as key

    return key(version)


def fill(entry: BootEntry, keyword: str, args: List[str]) -> None:
    """A ``linux``/``kernel``/``initrd`` line of a GRUB entry."""
    if keyword in ("linux", "linux16", "linuxefi", "kernel"):
        if args:
            entry.kernel = args[0]
            entry.cmdline = " ".join(args[1:])
    elif keyword in ("initrd", "initrd16", "initrdefi"):
        entry.initrds.extend(args)


def select(entries: List[BootEntry], spec: Optional[str]) -> Optional[BootEntry]:
    """The entry ``spec`` names: index path ("0", "1>2"), id or title; None if none (an index past
    the end included: the bootloader then falls back to the first entry)."""
    if not entries:
        return None
    if spec in (None, ""):
        return entries[0]
    for entry in entries:
        if spec in (entry.path, entry.id, entry.title):
            return entry
    return None


def adopt(config: BootConfig, loader: str, path: str, entries: List[BootEntry], spec: Optional[str]) -> bool:
    """Adopt ``entries`` from ``path`` as the boot configuration, if it has any."""
    if not entries:
        return False
    config.loader = loader
    config.files.append(path)
    config.entries = entries
    config.default_spec = spec
    config.default = select(entries, spec) or entries[0]
    return True


# -- shared by the editors --------------------------------------------------------------------

CMDLINE_DEVICE = re.compile(r"(?<![\w.-])(root|resume)=(/dev/[^\s\"']+)")
LINUX_LINE = re.compile(r"^(\s*(?:linux|linux16|linuxefi|kernel)\s+\S+)(.*?)(\s*)$")


def rewrite_cmdline(text: str, mapping: Dict[str, str]) -> str:
    """``root=``/``resume=`` naming a device of ``mapping`` become ``root=UUID=...``."""
    return CMDLINE_DEVICE.sub(lambda m: "%s=UUID=%s" % (m.group(1), mapping[m.group(2)]) if m.group(2) in mapping else m.group(0), text)


def add_kernel_args(line: str, args: List[str]) -> str:
    """A kernel line (grub.cfg linux, menu.lst kernel) with ``args`` appended where missing."""
    match = LINUX_LINE.match(line.rstrip("\n"))
    if not match:
        return line
    missing = [a for a in args if a not in match.group(2).split()]
    if not missing:
        return line
    return match.group(1) + match.group(2) + " " + " ".join(missing) + match.group(3) + ("\n" if line.endswith("\n") else "")


def kernel_lines_args(text: str, args: List[str], pattern: str) -> str:
    """``args`` added to every kernel line (lines matching ``pattern``)."""
    return "".join(add_kernel_args(line, args) if re.match(pattern, line) else line for line in text.splitlines(True))


def options_args(text: str, args: List[str]) -> str:
    """A Boot Loader Specification entry: ``args`` added to its ``options`` lines."""
    return "".join(line.rstrip("\n") + " " + " ".join(a for a in args if a not in line.split()) + "\n"
                   if line.startswith("options") and any(a not in line.split() for a in args) else line
                   for line in text.splitlines(True))


def entry_edits(system: System, paths: List[str], mapping: Dict[str, str], args: List[str], what: str) -> List[BootEdit]:
    """Boot Loader Specification entries with ``root=``/``resume=`` by UUID and ``args`` in ``options``."""
    out = []
    for path in paths:
        text = system.read_text(path) or ""
        new = rewrite_cmdline(text, mapping)
        if args:
            new = options_args(new, args)
        if new != text:
            out.append(BootEdit(path, text, new, what))
    return out


# the bootloaders, in registration order (see the module's docstring)
from . import grub2, grub_legacy, bls, systemd_boot, extlinux  # noqa: E402,F401,I001
