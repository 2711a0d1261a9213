"""Which initramfs generator the guest has, and what its configuration says about drivers."""

import re
import shlex
from typing import Dict, List, Optional

from ..generators import ITOOLS_MODULES, SUSE_SYSCONFIG
from ..knowledge import Knowledge
from ..system import System
from .distro_info import DistroInfo
from .kmod import normalize

_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(\+?=)(.*)$")


def parse_shell_assignments(text: str) -> List[tuple]:
    """``(key, op, value)`` for each simple shell assignment (dracut.conf, initramfs.conf,
    /etc/sysconfig/kernel). Quotes are removed; ``${VAR}`` references are kept as text."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if not match:
            continue
        key, op, value = match.group(1), match.group(2), match.group(3).strip()
        try:
            parts = shlex.split(value, comments=True)
            value = parts[0] if len(parts) == 1 else " ".join(parts)
        except ValueError:
            value = value.strip("\"'")
        found.append((key, op, value))
    return found


class GeneratorInfo:
    def __init__(self):
        self.installed: List[str] = []
        self.active: Optional[str] = None
        self.config_files: List[str] = []
        self.settings: Dict[str, str] = {}
        self.forced_modules: List[str] = []  # modules the config always includes
        self.hostonly: Optional[bool] = None
        self.modules_policy: Optional[str] = None  # initramfs-tools MODULES=
        self.omitted_modules: List[str] = []

    def to_dict(self) -> Dict[str, object]:
        return {"installed": self.installed, "active": self.active, "config_files": self.config_files,
                "hostonly": self.hostonly, "modules_policy": self.modules_policy,
                "forced_modules": self.forced_modules, "omitted_modules": self.omitted_modules}


def read_generator(system: System, knowledge: Knowledge, distro: DistroInfo) -> GeneratorInfo:
    info = GeneratorInfo()
    for name, spec in knowledge.generators.items():
        if any(system.which(exe) for exe in spec["executables"]):
            if name == "suse-mkinitrd" and distro.family != "suse":
                continue  # RHEL 5/6 "mkinitrd" is a dracut wrapper, not SUSE's
            if name == "suse-mkinitrd" and system.which("dracut"):
                continue  # SUSE >= 12 ships a mkinitrd compatibility wrapper around dracut
            info.installed.append(name)
    preference = knowledge.distros["generator_preference"].get(distro.family, list(knowledge.generators))
    for name in preference + info.installed:
        if name in info.installed:
            info.active = name
            break
    if info.active == "dracut":
        _read_dracut(system, info)
    elif info.active == "initramfs-tools":
        _read_initramfs_tools(system, info)
    elif info.active == "suse-mkinitrd":
        _read_suse_mkinitrd(system, info)
    return info


def _read_dracut(system: System, info: GeneratorInfo) -> None:
    files = ["/etc/dracut.conf"]
    by_name: Dict[str, str] = {}
    for directory in ("/usr/lib/dracut/dracut.conf.d", "/etc/dracut.conf.d"):
        for path in system.glob(directory + "/*.conf"):
            by_name[path.rsplit("/", 1)[-1]] = path  # /etc overrides /usr/lib of the same name
    files += [by_name[n] for n in sorted(by_name)]
    for path in files:
        text = system.read_text(path)
        if text is None:
            continue
        info.config_files.append(path)
        for key, op, value in parse_shell_assignments(text):
            if op == "+=":
                info.settings[key] = (info.settings.get(key, "") + " " + value).strip()
            else:
                info.settings[key] = value
    hostonly = info.settings.get("hostonly")
    info.hostonly = None if hostonly is None else hostonly.lower() in ("yes", "y", "true", "1")
    for key in ("add_drivers", "force_drivers", "drivers"):
        info.forced_modules += [normalize(m) for m in info.settings.get(key, "").split()]
    info.omitted_modules = [normalize(m) for m in info.settings.get("omit_drivers", "").split()]


def _read_initramfs_tools(system: System, info: GeneratorInfo) -> None:
    for path in ["/etc/initramfs-tools/initramfs.conf"] + system.glob("/etc/initramfs-tools/conf.d/*"):
        text = system.read_text(path)
        if text is None:
            continue
        info.config_files.append(path)
        for key, _, value in parse_shell_assignments(text):
            info.settings[key] = value
    info.modules_policy = info.settings.get("MODULES", "most")
    text = system.read_text(ITOOLS_MODULES)
    if text is not None:
        info.config_files.append(ITOOLS_MODULES)
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                info.forced_modules.append(normalize(line.split()[0]))


def _read_suse_mkinitrd(system: System, info: GeneratorInfo) -> None:
    text = system.read_text(SUSE_SYSCONFIG)
    if text is None:
        return
    info.config_files.append(SUSE_SYSCONFIG)
    for key, _, value in parse_shell_assignments(text):
        info.settings[key] = value
    modules = info.settings.get("INITRD_MODULES", "")
    info.forced_modules = [normalize(m) for m in modules.split() if not m.startswith("$")]
