"""Kernel module naming and the kernel's own module metadata files.

Exact matching matters: a text search for ``nvme`` also finds ``nvmem`` (field notes). Every
comparison here is on a *normalised module name*: basename, without ``.ko`` and its compression
suffix, ``-`` folded to ``_``.
"""

import re
from typing import Dict, Iterable, List, Optional, Set

from ..errors import ParseError

_CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_CONFIG_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$")


MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz", ".ko.bz2")


def module_name_of_path(path: str) -> Optional[str]:
    """The normalised module name if ``path`` is a module file, else None."""
    if ".ko" not in path:
        return None
    base = path.rpartition("/")[2]
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)].replace("-", "_")
    return None


def normalize(name: str) -> str:
    """``kernel/drivers/block/xen-blkfront.ko.xz`` -> ``xen_blkfront``; ``xen-blkfront`` -> ``xen_blkfront``."""
    return module_name_of_path(name) or name.rpartition("/")[2].replace("-", "_")


def parse_kernel_config(text: str) -> Dict[str, str]:
    """``CONFIG_X`` -> ``y``/``m``/``n``/value. ``# CONFIG_X is not set`` gives ``n``.

    The last occurrence wins, as in Kconfig. Lines that are neither are ignored (comments)."""
    values: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        match = _CONFIG_LINE.match(line)
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values[match.group(1)] = value
            continue
        match = _CONFIG_UNSET.match(line)
        if match:
            values[match.group(1)] = "n"
    return values


def parse_modules_builtin(text: str) -> Set[str]:
    """Normalised names of the modules compiled into the kernel (``modules.builtin``)."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(normalize(line))
    return names


class ModulesDep:
    """``modules.dep``: module path -> the paths it depends on (already transitive). The
    dependency lists are parsed only for the modules asked about (a kernel has thousands)."""

    def __init__(self, paths: Dict[str, str], raw_deps: Dict[str, str]):
        self.paths = paths  # normalised name -> path relative to /lib/modules/<kver>
        self.raw_deps = raw_deps  # normalised name -> the unparsed dependency list
        self._deps: Dict[str, List[str]] = {}

    @classmethod
    def parse(cls, text: str, origin: str = "modules.dep") -> "ModulesDep":
        paths: Dict[str, str] = {}
        raw: Dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            head, colon, tail = line.partition(":")
            head = head.strip()
            if not head or head.startswith("#"):
                continue
            if not colon:
                raise ParseError("%s line %d: expected 'module: deps', got %r" % (origin, number, line[:80]))
            name = module_name_of_path(head)
            if name is None:
                raise ParseError("%s line %d: %r is not a module file" % (origin, number, head[:80]))
            if name not in paths:
                paths[name] = head
                raw[name] = tail
        return cls(paths, raw)

    def deps_of(self, name: str) -> List[str]:
        if name not in self._deps:
            self._deps[name] = [n for n in (module_name_of_path(d) for d in self.raw_deps.get(name, "").split()) if n]
        return self._deps[name]

    @property
    def deps(self) -> Dict[str, List[str]]:
        return {name: self.deps_of(name) for name in self.paths}

    def closure(self, name: str) -> List[str]:
        """``name`` and everything it needs, dependencies first (load order)."""
        order: List[str] = []
        seen: Set[str] = set()

        def visit(mod: str, depth: int) -> None:
            if mod in seen or depth > 64:
                return
            seen.add(mod)
            for dep in self.deps_of(mod):
                visit(dep, depth + 1)
            order.append(mod)

        visit(normalize(name), 0)
        return order


def first_symbol(config: Dict[str, str], symbols: Iterable[str]) -> Optional[str]:
    """The first of ``symbols`` the config mentions (set or unset), else None."""
    for symbol in symbols:
        if symbol in config:
            return symbol
    return None
