"""initramfs-tools (Debian, Ubuntu)."""

import re
from typing import Callable, List, Optional, Tuple

from ..system import System
from .base import GeneratorInfo, InitramfsGenerator, normalize, register, render

BLOCK = re.compile(r"^# BEGIN imsprep.*?^# END imsprep\n?", re.M | re.S)
CHROOT_CONFDIR = "/var/lib/imsprep/chroot-initramfs-tools"


def listed_modules(text: str) -> List[str]:
    """Modules an initramfs-tools ``modules`` file lists (one per line, options after the name)."""
    return [normalize(line.split("#", 1)[0].split()[0]) for line in text.splitlines() if line.split("#", 1)[0].strip()]


@register
class InitramfsTools(InitramfsGenerator):
    name = "initramfs-tools"
    dropin = "/etc/initramfs-tools/modules"
    dropin_why = "initramfs-tools adds the XEN/KVM drivers to every initramfs"
    build_programs = ("mkinitramfs", "update-initramfs")

    def read_config(self, system: System, info: GeneratorInfo) -> None:
        for _path, key, _op, value in self.assignments(system, info):
            info.settings[key] = value
        info.modules_policy = info.settings.get("MODULES", "most")
        text = system.read_text(self.dropin)
        if text is not None:
            info.config_files.append(self.dropin)
            info.forced_modules += listed_modules(text)
            info.own_forced_modules += listed_modules(BLOCK.sub("", text))

    def persist_remedy(self, modules: List[str]) -> str:
        return "add %s to %s, one per line" % (" ".join(modules) or "the modules", self.dropin)

    def rebuild_command(self, kver: str, kernel_image: Optional[str], image: str) -> str:
        return "update-initramfs -u -k %s" % kver

    def trap(self, info: GeneratorInfo, family: str, target: str, missing: List[str],
             major: Optional[int] = None) -> Optional[str]:
        if info.modules_policy in ("dep", "list"):
            return "initramfs-tools MODULES=%s includes only %s; %s are not listed in %s" % (
                info.modules_policy, "the running hardware's drivers" if info.modules_policy == "dep" else "listed modules",
                ", ".join(missing), self.dropin)
        return None

    def dropin_text(self, old: Optional[str], info: GeneratorInfo, modules: List[str], version: str) -> Optional[str]:
        base = BLOCK.sub("", old or "")
        if base and not base.endswith("\n"):
            base += "\n"
        listed = set(listed_modules(base))
        wanted = [m for m in modules if m not in listed]
        new = base + (render("initramfs-tools-modules.j2", version, wanted) if wanted else "")
        if old == new or (old is None and not wanted):
            return None
        return new

    def private_config(self, info: GeneratorInfo, live: bool) -> Optional[Tuple[str, str, bytes]]:
        if not live and info.modules_policy == "dep":  # it would describe this machine's disks
            return CHROOT_CONFDIR, "conf.d/zz-imsprep-chroot", b"MODULES=most\n"
        return None

    def build_note(self, info: GeneratorInfo, live: bool) -> Optional[str]:
        if not live and info.modules_policy == "dep":
            return ("MODULES=dep cannot work on a mounted image (it would describe this machine's disks): "
                    "the images are built with MODULES=most; the guest's own setting is unchanged")
        return None

    def rebuild_argv(self, kver: str, kernel_image: Optional[str], modules: List[str], live: bool,
                     confdir: Optional[str]) -> Callable[[str], List[str]]:
        def argv(out: str) -> List[str]:
            return ["mkinitramfs"] + (["-d", confdir] if confdir else []) + ["-o", out, kver]
        return argv
