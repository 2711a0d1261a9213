"""Boot entries and the default one, from the bootloader's own configuration, read through the
bootloader strategies of :mod:`imsprep.bootloaders` (GRUB 2, systemd-boot, BLS, legacy GRUB,
extlinux, in that order of detection). Paths in these files are relative to the partition that
holds them: ``/vmlinuz-x`` means ``/boot/vmlinuz-x`` when /boot is separate."""

from ..bootloaders import BootConfig, BootEntry, detection_order, resolve_boot_path
from ..bootloaders.bls import parse_bls
from ..bootloaders.extlinux import parse_extlinux
from ..bootloaders.grub2 import parse_grub2, read_grubenv
from ..bootloaders.grub_legacy import parse_legacy
from ..system import System

__all__ = ["BootConfig", "BootEntry", "parse_bls", "parse_extlinux", "parse_grub2", "parse_legacy", "read_boot_config",
           "read_grubenv", "resolve_boot_path"]


def read_boot_config(system: System) -> BootConfig:
    config = BootConfig()
    for loader in detection_order():
        if loader.read(system, config):
            break
    for entry in config.entries:
        if entry.kernel_path is not None:
            continue  # resolved by its reader (systemd-boot: relative to the partition of the entry)
        separate_boot = False
        if entry.kernel:
            entry.kernel_path = resolve_boot_path(system, entry.kernel)
            separate_boot = entry.kernel_path == "/boot" + entry.kernel.split(")", 1)[-1] and not entry.kernel.startswith("/boot/")
        entry.initrd_paths = [resolve_boot_path(system, p, separate_boot) for p in entry.initrds]
    return config
