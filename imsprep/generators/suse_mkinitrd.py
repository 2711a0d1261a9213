"""SUSE's own mkinitrd (SLES < 12, openSUSE < 13)."""

import re
from typing import Callable, List, Optional

from ..system import System
from .base import GeneratorInfo, InitramfsGenerator, normalize, register, render


@register
class SuseMkinitrd(InitramfsGenerator):
    name = "suse-mkinitrd"
    dropin = "/etc/sysconfig/kernel"
    dropin_why = "mkinitrd adds the XEN/KVM drivers to every initrd"
    build_programs = ("mkinitrd",)

    def installed(self, system: System, family: str) -> bool:
        if family != "suse":
            return False  # RHEL 5/6 "mkinitrd" is a dracut wrapper, not SUSE's
        if system.which("dracut"):
            return False  # SUSE >= 12 ships a mkinitrd compatibility wrapper around dracut
        return super().installed(system, family)

    def read_config(self, system: System, info: GeneratorInfo) -> None:
        for _path, key, _op, value in self.assignments(system, info, [self.dropin]):
            info.settings[key] = value
        modules = info.settings.get("INITRD_MODULES", "")
        info.forced_modules = [normalize(m) for m in modules.split() if not m.startswith("$")]
        info.own_forced_modules = list(info.forced_modules)

    def persist_remedy(self, modules: List[str]) -> str:
        return "add %s to INITRD_MODULES in %s" % (" ".join(modules), self.dropin)

    def rebuild_command(self, kver: str, kernel_image: Optional[str], image: str) -> str:
        return "mkinitrd -k %s -i %s" % (kernel_image, image)

    def trap(self, info: GeneratorInfo, family: str, target: str, missing: List[str],
             major: Optional[int] = None) -> Optional[str]:
        return "INITRD_MODULES in %s lacks %s" % (self.dropin, ", ".join(missing))

    def dropin_text(self, old: Optional[str], info: GeneratorInfo, modules: List[str], version: str) -> Optional[str]:
        text = old or ""
        match = re.search(r'^INITRD_MODULES="([^"]*)"', text, re.M)
        current = match.group(1).split() if match else []
        wanted = current + [m for m in modules if m not in [normalize(c) for c in current]]
        if wanted == current:
            return None
        line = render("suse-kernel-sysconfig.j2", version, wanted).splitlines()[-1]
        return text[: match.start()] + line + text[match.end():] if match else text + line + "\n"

    def rebuild_argv(self, kver: str, kernel_image: Optional[str], modules: List[str], live: bool,
                     confdir: Optional[str]) -> Callable[[str], List[str]]:
        image = kernel_image or "/boot/vmlinuz-" + kver

        def argv(out: str) -> List[str]:
            return ["mkinitrd", "-k", image, "-i", out]
        return argv
