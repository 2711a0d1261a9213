"""Kernel module naming and the kernel's own module metadata files.

Exact matching matters: a text search for ``nvme`` also finds ``nvmem`` (field notes). Every
comparison here is on a *normalised module name*: basename, without ``.ko`` and its compression
suffix, ``-`` folded to ``_``.
"""

import re
from typing import Dict, Iterable, List, Optional, Set

from ..errors import ParseError

MODULE_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko.bz2", ".ko")
_CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_CONFIG_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$")


def normalize(name: str) -> str:
    """``kernel/drivers/block/xen-blkfront.ko.xz`` -> ``xen_blkfront``."""
    base = name.rsplit("/", 1)[-1]
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def module_name_of_path(path: str) -> Optional[str]:
    """The normalised module name if ``path`` is a module file, else None."""
    base = path.rsplit("/", 1)[-1]
    if any(base.endswith(s) for s in MODULE_SUFFIXES):
        return normalize(base)
    return None


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
    """``modules.dep``: module path -> the paths it depends on (already transitive)."""

    def __init__(self, paths: Dict[str, str], deps: Dict[str, List[str]]):
        self.paths = paths  # normalised name -> path relative to /lib/modules/<kver>
        self.deps = deps  # normalised name -> normalised names it needs

    @classmethod
    def parse(cls, text: str, origin: str = "modules.dep") -> "ModulesDep":
        paths: Dict[str, str] = {}
        deps: Dict[str, List[str]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if ":" not in line:
                raise ParseError("%s line %d: expected 'module: deps', got %r" % (origin, number, line[:80]))
            head, _, tail = line.partition(":")
            name = module_name_of_path(head.strip())
            if name is None:
                raise ParseError("%s line %d: %r is not a module file" % (origin, number, head[:80]))
            paths.setdefault(name, head.strip())
            deps.setdefault(name, [normalize(d) for d in tail.split() if module_name_of_path(d)])
        return cls(paths, deps)

    def closure(self, name: str) -> List[str]:
        """``name`` and everything it needs, dependencies first (load order)."""
        order: List[str] = []
        seen: Set[str] = set()

        def visit(mod: str, depth: int) -> None:
            if mod in seen or depth > 64:
                return
            seen.add(mod)
            for dep in self.deps.get(mod, []):
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
