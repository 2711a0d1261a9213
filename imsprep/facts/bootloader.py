"""Boot entries and the default one, from the bootloader's own configuration.

Supported: GRUB 2 ``grub.cfg`` (menuentry/submenu, ``set default``, ``grubenv`` saved_entry,
``blscfg``), Boot Loader Spec entries (``/boot/loader/entries/*.conf``, RHEL 8+, Fedora),
systemd-boot (``loader/loader.conf`` and entries on the ESP: /boot/efi, /efi or /boot), legacy GRUB
``menu.lst``/``grub.conf`` and extlinux/syslinux. Paths in these files are relative to the partition
that holds them: ``/vmlinuz-x`` means ``/boot/vmlinuz-x`` when /boot is separate.
"""

import fnmatch
import re
import shlex
from typing import Dict, List, Optional, Tuple

from ..system import System
from .kernels import version_key

GRUB2_CFGS = ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"]
EFI_GLOB = "/boot/efi/EFI/*/grub.cfg"
LEGACY_CFGS = ["/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf"]
EXTLINUX_CFGS = ["/boot/extlinux/extlinux.conf", "/boot/syslinux/extlinux.conf", "/extlinux.conf",
                 "/boot/syslinux/syslinux.cfg", "/syslinux/syslinux.cfg", "/syslinux.cfg"]
GRUBENV = ["/boot/grub2/grubenv", "/boot/grub/grubenv"]
ESP_ROOTS = ["/boot/efi", "/efi", "/boot"]  # where systemd-boot's partition (ESP or XBOOTLDR) is mounted


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


def read_grubenv(system: System) -> Dict[str, str]:
    env: Dict[str, str] = {}
    for candidate in GRUBENV:
        text = system.read_text(candidate)
        if text is None:
            continue
        for line in text.splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key.strip()] = value.strip()
        break
    return env


def _words(line: str) -> List[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


def _fill(entry: BootEntry, keyword: str, args: List[str]) -> None:
    if keyword in ("linux", "linux16", "linuxefi", "kernel"):
        if args:
            entry.kernel = args[0]
            entry.cmdline = " ".join(args[1:])
    elif keyword in ("initrd", "initrd16", "initrdefi"):
        entry.initrds.extend(args)


def parse_grub2(text: str, source: str) -> Tuple[List[BootEntry], List[str], bool]:
    """Entries (with index paths), ``set default=`` values, and whether ``blscfg`` is used."""
    entries: List[BootEntry] = []
    defaults: List[str] = []
    uses_bls = False
    stack: List[Tuple[str, Optional[BootEntry], int]] = []  # (kind, entry, child count)
    top_count = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = _words(line)
        if not words:
            continue
        keyword = words[0]
        if keyword in ("menuentry", "submenu") and line.endswith("{"):
            title = words[1] if len(words) > 1 else ""
            if stack:
                parent_kind, parent, count = stack[-1]
                index_path = "%s>%d" % (stack[-1][1].path if stack[-1][1] else "", count)
                stack[-1] = (parent_kind, parent, count + 1)
            else:
                index_path = str(top_count)
                top_count += 1
            entry = BootEntry(title, source, number)
            entry.path = index_path
            for i, word in enumerate(words):
                if word in ("$menuentry_id_option", "--id") and i + 1 < len(words):
                    entry.id = words[i + 1]
            if keyword == "menuentry":
                entries.append(entry)
            stack.append((keyword, entry, 0))
            continue
        if line == "}" or line.startswith("}"):
            if stack:
                stack.pop()
            continue
        if keyword == "set" and len(words) > 1 and words[1].startswith("default="):
            defaults.append(words[1][len("default="):])
            continue
        if keyword == "blscfg":
            uses_bls = True
            continue
        if stack and stack[-1][0] == "menuentry" and stack[-1][1] is not None:
            _fill(stack[-1][1], keyword, words[1:])
    return entries, defaults, uses_bls


def _expand(value: str, grubenv: Dict[str, str]) -> str:
    """``$kernelopts``/``${tuned_initrd}`` from grubenv; unknown variables become empty, as in grub."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: grubenv.get(m.group(1), ""), value).strip()


def parse_bls(system: System, grubenv: Dict[str, str], directory: str = "/boot/loader/entries") -> List[BootEntry]:
    entries = []
    for path in system.glob(directory + "/*.conf"):
        text = system.read_text(path) or ""
        entry = BootEntry("", path, 1)
        entry.id = path.rsplit("/", 1)[-1][: -len(".conf")]
        for raw in text.splitlines():
            key, _, value = raw.strip().partition(" ")
            value = value.strip()
            if key == "title":
                entry.title = value
            elif key == "version":
                entry.version = value
            elif key == "linux":
                entry.kernel = value
            elif key == "initrd":
                entry.initrds.extend(_expand(value, grubenv).split())
            elif key == "options":
                entry.cmdline = _expand(value, grubenv)
            elif key == "sort-key":
                entry.sort_key = value
        entries.append(entry)
    # grub's blscfg sorts newest version first
    entries.sort(key=lambda e: (version_key(e.version or e.id or ""), e.id or ""), reverse=True)
    for index, entry in enumerate(entries):
        entry.path = str(index)
    return entries


def parse_legacy(text: str, source: str) -> Tuple[List[BootEntry], Optional[str]]:
    entries: List[BootEntry] = []
    default: Optional[str] = None
    current: Optional[BootEntry] = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(\w+)\s*(?:=|\s)\s*(.*)$", line)
        keyword, rest_text = (match.group(1).lower(), match.group(2).strip()) if match else (line.lower(), "")
        if keyword == "default" and current is None:
            default = rest_text
        elif keyword == "title":
            current = BootEntry(rest_text, source, number)
            current.path = str(len(entries))
            entries.append(current)
        elif current is not None and keyword in ("kernel", "initrd"):
            _fill(current, keyword, rest_text.split())
    return entries, default


def parse_extlinux(text: str, source: str) -> Tuple[List[BootEntry], Optional[str]]:
    entries: List[BootEntry] = []
    default: Optional[str] = None
    current: Optional[BootEntry] = None
    for number, raw in enumerate(text.splitlines(), 1):
        parts = raw.strip().split(None, 1)
        if not parts or parts[0].startswith("#"):
            continue
        keyword, rest = parts[0].lower(), (parts[1].strip() if len(parts) > 1 else "")
        if keyword == "default":
            default = rest
        elif keyword == "label":
            current = BootEntry(rest, source, number)
            current.id = rest
            current.path = str(len(entries))
            entries.append(current)
        elif current is not None and keyword in ("kernel", "linux"):
            current.kernel = rest.split()[0] if rest else None
        elif current is not None and keyword == "initrd":
            current.initrds.extend(rest.replace(",", " ").split())
        elif current is not None and keyword == "append":
            current.cmdline = rest
            for word in rest.split():
                if word.startswith("initrd="):
                    current.initrds.extend(word[len("initrd="):].split(","))
    return entries, default


def _boot_counted(name: str) -> str:
    """An entry's id without the boot counting suffix (``x+3-1.conf`` is entry ``x.conf``)."""
    return re.sub(r"\+\d+(-\d+)?(?=\.conf$)", "", name)


def read_systemd_boot(system: System, config: BootConfig) -> bool:
    """systemd-boot: loader.conf's ``default`` (a glob over entry ids, loader.conf(5)) among the
    entries of every mounted boot partition, sorted as the Boot Loader Specification says (by
    sort-key, then version, newest first). Paths in an entry are relative to its partition."""
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
    config.loader = "systemd-boot"
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


def _select(entries: List[BootEntry], spec: Optional[str]) -> Optional[BootEntry]:
    if not entries:
        return None
    if spec in (None, ""):
        return entries[0]
    for entry in entries:  # index path ("0", "1>2"), id or title
        if spec in (entry.path, entry.id, entry.title):
            return entry
    if spec.isdigit():
        return None  # an index past the end: grub falls back to the first entry
    return None


def _use(config: BootConfig, loader: str, path: str, entries: List[BootEntry], spec: Optional[str]) -> bool:
    """Adopt ``entries`` from ``path`` as the boot configuration, if it has any."""
    if not entries:
        return False
    config.loader = loader
    config.files.append(path)
    config.entries = entries
    config.default_spec = spec
    config.default = _select(entries, spec) or entries[0]
    return True


def read_boot_config(system: System) -> BootConfig:
    config = BootConfig()
    grubenv = read_grubenv(system)
    grub_files = [p for p in GRUB2_CFGS if system.is_file(p)] + system.glob(EFI_GLOB)
    for path in grub_files:
        entries, defaults, uses_bls = parse_grub2(system.read_text(path) or "", path)
        if uses_bls:
            entries = parse_bls(system, grubenv) + entries
        if not entries:
            continue
        config.loader = "grub2"
        config.files.append(path)
        config.entries = entries
        spec: Optional[str] = "0"
        plain = [d for d in defaults if "next_entry" not in d]
        if plain:
            spec = plain[-1]
        if spec and "saved_entry" in spec:
            spec = grubenv.get("saved_entry") or "0"
            config.notes.append("default is the saved entry from grubenv: %s" % spec)
        config.default_spec = spec
        config.default = _select(entries, spec) or entries[0]
        if _select(entries, spec) is None:
            config.notes.append("default %r matches no entry; GRUB falls back to the first" % spec)
        break
    if config.loader is None:
        read_systemd_boot(system, config)
    if config.loader is None and system.glob("/boot/loader/entries/*.conf"):
        entries = parse_bls(system, grubenv)
        config.loader = "bls"
        config.files.append("/boot/loader/entries")
        config.entries = entries
        config.default_spec = grubenv.get("saved_entry")
        config.default = _select(entries, config.default_spec) or (entries[0] if entries else None)
    if config.loader is None:
        for path in LEGACY_CFGS:
            if system.is_file(path):
                entries, spec = parse_legacy(system.read_text(path) or "", path)
                if spec == "saved":
                    saved = (system.read_text("/boot/grub/default") or "0").split()
                    spec = saved[0] if saved else "0"
                if _use(config, "grub-legacy", path, entries, spec):
                    break
    if config.loader is None:
        for path in EXTLINUX_CFGS:
            if system.is_file(path):
                entries, spec = parse_extlinux(system.read_text(path) or "", path)
                if _use(config, "extlinux", path, entries, spec):
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
