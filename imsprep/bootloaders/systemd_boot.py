"""systemd-boot: ``loader/loader.conf`` (``default``: a glob over entry ids, or ``@saved``, loader.conf(5))
and Boot Loader Specification entries in ``loader/entries/*.conf`` on the ESP or XBOOTLDR partition,
mounted at /boot/efi, /efi or /boot (Debian's systemd-boot package: ``bootctl install`` and
kernel-install's 90-loaderentry.install). An entry's paths are relative to its partition. New entries
take their ``options`` from ``/etc/kernel/cmdline`` (kernel-install(8)), so that file is fixed too.
Sources: tests/data/SOURCES.md, "systemd-boot"."""

import fnmatch
import re
from typing import Dict, List, Optional

from ..system import System
from . import BootConfig, BootEdit, BootEntry, Bootloader, entry_edits, register, rewrite_cmdline, version_key
from .bls import parse_bls

ESP_ROOTS = ["/boot/efi", "/efi", "/boot"]  # where systemd-boot's partition (ESP or XBOOTLDR) is mounted
KERNEL_CMDLINE = "/etc/kernel/cmdline"


def _boot_counted(name: str) -> str:
    """An entry's id without the boot counting suffix (``x+3-1.conf`` is entry ``x.conf``)."""
    return re.sub(r"\+\d+(-\d+)?(?=\.conf$)", "", name)


def entry_files(system: System) -> List[str]:
    """Every entry file on every boot partition, each once."""
    out: List[str] = []
    for root in ESP_ROOTS:
        out += [p for p in system.glob(root + "/loader/entries/*.conf") if p not in out]
    return out


def cmdline_args(text: str, args: List[str]) -> str:
    """/etc/kernel/cmdline with ``args`` added to its last command line (not a comment)."""
    lines = text.splitlines(True)
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line.strip() and not line.lstrip().startswith("#"):
            missing = [a for a in args if a not in line.split()]
            if missing:
                lines[index] = line.rstrip("\n").rstrip() + " " + " ".join(missing) + ("\n" if line.endswith("\n") else "")
            return "".join(lines)
    return text + ("" if text.endswith("\n") or not text else "\n") + " ".join(args) + "\n"


@register
class SystemdBoot(Bootloader):
    name = "systemd-boot"
    priority = 20

    def read(self, system: System, config: BootConfig) -> bool:
        """loader.conf's ``default`` among the entries of every mounted boot partition, sorted as the
        Boot Loader Specification says (by sort-key, then version, newest first)."""
        loader_conf = next((root + "/loader/loader.conf" for root in ESP_ROOTS
                            if system.is_file(root + "/loader/loader.conf")), None)
        if loader_conf is None:
            return False
        entries: List[BootEntry] = []
        roots: Dict[str, str] = {}
        for root in ESP_ROOTS:
            for entry in parse_bls(system, {}, root + "/loader/entries"):
                if entry.source not in roots:
                    roots[entry.source] = root
                    entries.append(entry)
        spec: Optional[str] = None
        for raw in (system.read_text(loader_conf) or "").splitlines():
            key, _, value = raw.strip().partition(" ")
            if key == "default" and value.strip():
                spec = value.strip()
        for entry in entries:
            entry.id = _boot_counted(entry.source.rsplit("/", 1)[-1])[: -len(".conf")]
            root = roots[entry.source]
            entry.kernel_path = root + "/" + entry.kernel.lstrip("/") if entry.kernel else None
            entry.initrd_paths = [root + "/" + p.lstrip("/") for p in entry.initrds]
        with_key = sorted((e for e in entries if e.sort_key), key=lambda e: (version_key(e.version or ""), e.id), reverse=True)
        with_key.sort(key=lambda e: e.sort_key or "")  # stable: version order kept within a sort-key
        rest = sorted((e for e in entries if not e.sort_key), key=lambda e: version_key(e.id or ""), reverse=True)
        entries = with_key + rest
        for index, entry in enumerate(entries):
            entry.path = str(index)
        config.loader = self.name
        config.files.append(loader_conf)
        config.entries = entries
        config.default_spec = spec
        if not entries:
            return True
        chosen = None
        if spec and spec != "@saved":
            chosen = next((e for e in entries if fnmatch.fnmatchcase((e.id or "").lower(), spec.lower())
                           or fnmatch.fnmatchcase((e.id or "").lower() + ".conf", spec.lower())), None)
            if chosen is None:
                config.notes.append("default %r matches no entry; systemd-boot boots the first" % spec)
        elif spec == "@saved":
            config.notes.append("default is @saved (an EFI variable, not in the image): the first entry is judged")
        config.default = chosen or entries[0]
        return True

    def cmdline_files(self, system: System) -> List[str]:
        return entry_files(system) + ([KERNEL_CMDLINE] if system.is_file(KERNEL_CMDLINE) else [])

    def can_set_cmdline(self, system: System, boot: BootConfig) -> bool:
        return bool(entry_files(system))

    def edits(self, system: System, boot: BootConfig, mapping: Dict[str, str], args: List[str], what: str) -> List[BootEdit]:
        out = entry_edits(system, entry_files(system), mapping, args, what)
        if system.is_file(KERNEL_CMDLINE) and not system.is_symlink(KERNEL_CMDLINE):
            text = system.read_text(KERNEL_CMDLINE) or ""
            new = rewrite_cmdline(text, mapping)
            if args and entry_files(system):
                new = cmdline_args(new, args)
            if new != text:
                out.append(BootEdit(KERNEL_CMDLINE, text, new, "%s (kernel-install's options for new entries)" % what))
        return out
