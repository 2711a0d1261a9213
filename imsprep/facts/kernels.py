"""Installed kernels, found by scanning ``/boot`` and ``/lib/modules`` (works on every distro,
even when the package database is unreadable), and each kernel's driver metadata."""

import os
import re
import struct
from typing import Dict, List, Optional, Set

from ..errors import ParseError
from ..system import System
from .kmod import ModulesDep, module_name_of_path, parse_kernel_config, parse_modules_builtin

MODULE_ROOTS = ("/lib/modules", "/usr/lib/modules")
IMAGE_PREFIXES = ("vmlinuz-", "vmlinux-", "kernel-", "Image-", "bzImage-", "zImage-")
_VERSION_SPLIT = re.compile(r"(\d+|[A-Za-z]+)")
HEADER_BYTES = 64 << 10  # the x86 setup header and the version string it points to lie in the first sectors


def version_key(kver: str) -> List[object]:
    """Sort key for kernel versions: numeric parts numerically (``6.1.10`` > ``6.1.9``)."""
    key: List[object] = []
    for part in _VERSION_SPLIT.findall(kver):
        key.append((1, int(part), "") if part.isdigit() else (0, 0, part))
    return key


class Kernel:
    """One installed kernel and what it knows about its drivers."""

    def __init__(self, kver: str):
        self.kver = kver
        self.image: Optional[str] = None
        self.modules_dir: Optional[str] = None
        self.config_path: Optional[str] = None
        self.config: Dict[str, str] = {}
        self.builtin: Set[str] = set()
        self.builtin_known = False
        self.dep: Optional[ModulesDep] = None
        self.dep_error: Optional[str] = None
        self.scanned: Optional[Dict[str, str]] = None  # normalised name -> guest path, from a full scan
        self.system: Optional[System] = None
        self.running = False
        self.paths: Dict[str, Optional[str]] = {}  # module_path's answers, gathered with the facts (resolve)
        self.module_backups: List[str] = []  # tar files a PV driver (UVP) moved the native modules into

    @property
    def has_config(self) -> bool:
        return bool(self.config)

    def module_path(self, name: str) -> Optional[str]:
        """The module's file: where modules.dep says, if it is there; otherwise found by scanning
        the modules directory (modules.dep can be missing or stale). Asked once per name: the
        rules read the answers ``resolve`` gathered, without touching the guest."""
        if name not in self.paths:
            self.paths[name] = self._find_module(name)
        return self.paths[name]

    def resolve(self, names: List[str]) -> None:
        """Look up these modules now, while the facts are gathered."""
        for name in names:
            self.module_path(name)

    def _find_module(self, name: str) -> Optional[str]:
        if self.system is None or not self.modules_dir:
            return None
        if self.dep is not None and name in self.dep.paths:
            rel = self.dep.paths[name]
            path = rel if rel.startswith("/") else self.modules_dir + "/" + rel  # old depmod wrote absolute paths
            if self.system.is_file(path):
                return path
        if self.scanned is None:
            self.scanned = scan_module_files(self.system, self.modules_dir)
        return self.scanned.get(name)

    def to_dict(self) -> Dict[str, object]:
        return {
            "version": self.kver,
            "image": self.image,
            "modules_dir": self.modules_dir,
            "config": self.config_path,
            "modules_dep": self.dep is not None,
            "modules_builtin": self.builtin_known,
            "running": self.running,
        }


def image_version(system: System, path: str) -> Optional[str]:
    """The release an x86 kernel image says it is: the boot protocol header (``HdrS`` at 0x202,
    protocol 2.00+) has at 0x20E the offset, from 0x200, of a NUL-terminated string that begins with
    the release (Documentation/arch/x86/boot.rst, ``kernel_version``). None for other images."""
    try:
        head = system.read_bytes(path, HEADER_BYTES)
    except (OSError, ValueError):
        return None
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", head, 0x206)[0] < 0x200:
        return None
    start = struct.unpack_from("<H", head, 0x20E)[0] + 0x200
    text = head[start:start + 256].split(b"\0", 1)[0].decode("ascii", "replace").split()
    release = text[0] if text else ""
    return release if re.match(r"^\d+\.\d+[\w.+~-]*$", release) else None


def find_kernels(system: System, running: Optional[str] = None) -> List[Kernel]:
    """Every kernel with an image in /boot (or in its modules dir) or a modules dir with modules.
    An image's release is the one written in it (x86 boot header); the file name's suffix only
    when the image does not say (``/boot/vmlinuz-linux`` on Arch is 6.x, not a kernel "linux")."""
    kernels: Dict[str, Kernel] = {}
    for root in MODULE_ROOTS:
        for kver in system.listdir(root):
            directory = root + "/" + kver
            if not system.is_dir(directory):
                continue
            kernel = kernels.setdefault(kver, Kernel(kver))
            if kernel.modules_dir is None:
                kernel.modules_dir = directory
    # Arch names a kernel's files after its package (vmlinuz-linux-lts), written in <modules dir>/pkgbase
    pkgbase = {(system.read_text(k.modules_dir + "/pkgbase") or "").strip(): k.kver
               for k in kernels.values() if k.modules_dir and system.is_file(k.modules_dir + "/pkgbase")}
    for name in sorted(system.listdir("/boot")):
        for prefix in IMAGE_PREFIXES:
            if name.startswith(prefix) and not name.endswith((".hmac", ".sig", ".old", ".bak")):
                path = "/boot/" + name
                suffix = name[len(prefix):]
                release = (image_version(system, path) if system.is_file(path) else None) or pkgbase.get(suffix)
                release = release or (suffix if suffix[:1].isdigit() else None)  # "linux" is no release
                if release is None:
                    continue
                kver = release
                if (kver in kernels or system.is_file(path)):
                    kernel = kernels.setdefault(kver, Kernel(kver))
                    if kernel.image is None or (suffix == kver and not kernel.image.endswith("-" + kver)):
                        kernel.image = path  # vmlinuz-<kver> rather than another image of that release (a rescue copy)
    for kernel in kernels.values():
        if kernel.image is None and kernel.modules_dir and system.is_file(kernel.modules_dir + "/vmlinuz"):
            kernel.image = kernel.modules_dir + "/vmlinuz"
    result = []
    for kver, kernel in kernels.items():
        if kernel.image is None:
            continue  # a leftover modules directory is not a bootable kernel
        kernel.running = kver == running
        load_metadata(system, kernel)
        result.append(kernel)
    return sorted(result, key=lambda k: version_key(k.kver), reverse=True)


def orphan_module_dirs(system: System, kernels: List[Kernel]) -> List[str]:
    known = {k.kver for k in kernels}
    return [root + "/" + kver for root in MODULE_ROOTS for kver in system.listdir(root)
            if kver not in known and system.is_dir(root + "/" + kver + "/kernel")]


def load_metadata(system: System, kernel: Kernel) -> None:
    for candidate in ("/boot/config-" + kernel.kver, (kernel.modules_dir or "/lib/modules/" + kernel.kver) + "/config"):
        text = system.read_text(candidate)
        if text is not None:
            kernel.config_path = candidate
            kernel.config = parse_kernel_config(text)
            break
    if not kernel.modules_dir:
        return
    text = system.read_text(kernel.modules_dir + "/modules.builtin")
    if text is not None:
        kernel.builtin = parse_modules_builtin(text)
        kernel.builtin_known = True
    text = system.read_text(kernel.modules_dir + "/modules.dep")
    if text is not None:
        try:
            kernel.dep = ModulesDep.parse(text, kernel.modules_dir + "/modules.dep")
        except ParseError as exc:
            kernel.dep_error = str(exc)
    else:
        kernel.dep_error = "missing (depmod never ran for this kernel)"
    kernel.module_backups = system.glob(kernel.modules_dir + "/uvp_mods_backup.tar")
    kernel.system = system


def scan_module_files(system: System, modules_dir: str) -> Dict[str, str]:
    """Module files actually on disk (modules.dep can be stale or missing).

    Files under ``updates/`` and ``extra/`` win over ``kernel/``, as depmod's search order does."""
    found: Dict[str, str] = {}
    priority: Dict[str, int] = {}
    for path in system.walk_files(modules_dir):
        name = module_name_of_path(path)
        if not name:
            continue
        rel = path[len(modules_dir) + 1:]
        rank = 0 if rel.startswith(("updates/", "extra/", "weak-updates/")) else 1
        if name not in found or rank < priority[name]:
            found[name] = path
            priority[name] = rank
    return found


def running_kernel(system: System) -> Optional[str]:
    """The running kernel release, only meaningful on the live system."""
    if not system.live:
        return None
    text = system.read_text("/proc/sys/kernel/osrelease")
    if text:
        return text.strip()
    return os.uname().release
