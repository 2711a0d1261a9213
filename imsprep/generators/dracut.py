"""dracut (RHEL family, SUSE >= 12, optional on Debian)."""

from typing import Callable, List, Optional

from ..system import System
from .base import GeneratorInfo, InitramfsGenerator, normalize, register, render

FORCING_KEYS = ("add_drivers", "force_drivers", "drivers")


@register
class Dracut(InitramfsGenerator):
    name = "dracut"
    dropin = "/etc/dracut.conf.d/90-imsprep.conf"
    dropin_why = "dracut adds the XEN/KVM drivers to every initramfs"
    config_glob = "*.conf"
    build_programs = ("dracut",)

    def read_config(self, system: System, info: GeneratorInfo) -> None:
        for path, key, op, value in self.assignments(system, info):
            if op == "+=":
                info.settings[key] = (info.settings.get(key, "") + " " + value).strip()
            else:
                info.settings[key] = value
            if key in FORCING_KEYS and path != self.dropin:
                info.own_forced_modules += [normalize(m) for m in value.split()]
        hostonly = info.settings.get("hostonly")
        info.hostonly = None if hostonly is None else hostonly.lower() in ("yes", "y", "true", "1")
        for key in FORCING_KEYS:
            info.forced_modules += [normalize(m) for m in info.settings.get(key, "").split()]
        info.omitted_modules = [normalize(m) for m in info.settings.get("omit_drivers", "").split()]

    def persist_remedy(self, modules: List[str]) -> str:
        return 'add add_drivers+=" %s " to %s' % (" ".join(modules), self.dropin)

    def rebuild_command(self, kver: str, kernel_image: Optional[str], image: str) -> str:
        return "dracut -f %s %s" % (image, kver)

    def trap(self, info: GeneratorInfo, family: str, target: str, missing: List[str],
             major: Optional[int] = None) -> Optional[str]:
        # RHEL 6's dracut (004) builds generic images unless -H or hostonly=yes; from RHEL 7 on 01-dist.conf says
        # yes. SUSE (12 on) rebuilds through its mkinitrd wrapper, which passes --hostonly unless -A.
        default_hostonly = family == "rhel" and (major or 7) >= 7 or family == "suse"
        if info.hostonly is True or (info.hostonly is None and default_hostonly):
            return "dracut builds host-only images (hostonly=%s), so a rebuild on a host without %s devices drops %s" % (
                "yes" if info.hostonly else "default on this distro", target.upper(), ", ".join(missing))
        return None

    def default_image(self, kver: str, family: str) -> str:
        if family == "debian":  # dracut on Debian keeps the Debian name
            return "/boot/initrd.img-{kver}".format(kver=kver)
        return super().default_image(kver, family)

    def dropin_text(self, old: Optional[str], info: GeneratorInfo, modules: List[str], version: str) -> Optional[str]:
        listed = set(info.own_forced_modules)
        wanted = [m for m in modules if m not in listed]
        if not wanted and old is None:
            return None
        new = render("dracut.conf.j2", version, wanted)
        return None if old == new else new

    def rebuild_argv(self, kver: str, kernel_image: Optional[str], modules: List[str], live: bool,
                     confdir: Optional[str]) -> Callable[[str], List[str]]:
        def argv(out: str) -> List[str]:
            command = ["dracut", "-f", "--kver", kver, "--add-drivers", " ".join(modules)]
            if not live:
                command.append("--no-hostonly")  # in a chroot, host-only would describe this machine
            return command + [out]
        return argv
