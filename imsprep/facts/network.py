"""Network configuration that breaks on a new instance: persistent NIC naming rules (the new NIC
gets a new name), MAC-pinned or static-address configuration (the new NIC has another MAC and
the cloud hands out addresses by DHCP), and configuration bound to an interface name the NIC will
not have on the other hypervisor: udev names a Xen vif ``enX0`` (``eth0`` with older udev), a
virtio-net NIC ``ens2``/``ens3``/``enp1s0`` by its slot, a VMware one ``ens192``. Only
``net.ifnames=0`` on the kernel command line makes them all ``eth0``."""

import fnmatch
import re
from typing import Dict, List, Optional

from ..bootloaders.grub2 import grub_cmdline_var, grub_default_files
from ..system import System

PERSISTENT_RULES = ["/etc/udev/rules.d/70-persistent-net.rules", "/etc/udev/rules.d/30-net_persistent-names.rules"]
GENERATOR_RULES = ["/lib/udev/rules.d/75-persistent-net-generator.rules", "/usr/lib/udev/rules.d/75-persistent-net-generator.rules"]
GENERATOR_MASK = "/etc/udev/rules.d/75-persistent-net-generator.rules"
IFCFG_GLOBS = ["/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*"]
STATIC_KEYS = ("IPADDR", "NETMASK", "PREFIX", "GATEWAY", "IPADDR0", "PREFIX0", "GATEWAY0")
# every numbered address (IPADDR1, NETMASK1, PREFIX1: initscripts' secondary addresses) and static IPv6
STATIC_KEY = re.compile(r"^((IPADDR|NETMASK|PREFIX|GATEWAY)\d*|IPV6ADDR|IPV6ADDR_SECONDARIES|IPV6_DEFAULTGW)$")
MAC_KEYS = ("HWADDR", "MACADDR", "LLADDR")
NETWORKD_DIR = "/etc/systemd/network"
NM_DIR = "/etc/NetworkManager/system-connections"
IFNAMES_OFF = "net.ifnames=0"
# the name the first NIC gets from udev, per target: a Xen vif, a virtio-net NIC in the slots
# QEMU/OpenStack put it in. With net.ifnames=0 the kernel's own name, on every hypervisor.
TARGET_NIC_NAMES = {"xen": ["enX0"], "kvm": ["ens2", "ens3", "enp1s0"]}
KERNEL_NIC_NAMES = {"xen": ["eth0"], "kvm": ["eth0"]}
# what looks like a physical (kernel- or udev-named) NIC, as opposed to br0, bond0, lo, wg0
PHYSICAL_NIC = re.compile(r"^(eth\d+|en[A-Za-z].*)$")
ANY_WIRED = "en* eth*"  # systemd-networkd [Match] Name= for every wired NIC, whatever named it


class NetIssue:
    def __init__(self, kind: str, path: str, line: Optional[int], interface: Optional[str], text: str,
                 fmt: str = "", targets: Optional[List[str]] = None):
        # persistent-rules | rules-generator | static | mac-pinned | name-bound | name-rule
        self.kind = kind
        self.path = path
        self.line = line
        self.interface = interface
        self.text = text
        self.format = fmt  # interfaces | ifcfg | netplan | networkd | networkd-link | nm | udev | ""
        self.targets = targets or ["kvm", "xen"]

    def to_dict(self) -> Dict[str, object]:
        return {"kind": self.kind, "file": self.path, "line": self.line, "interface": self.interface, "text": self.text,
                "format": self.format, "targets": self.targets}


def udev_keeps_kernel_names(distro: object) -> bool:
    """The release's udev has no predictable NIC names: the NIC keeps the kernel's ethN (RHEL/CentOS 6,
    SLES 11, Ubuntu before 15.10, Debian before 9; their udev pins ethN by MAC in 70-persistent-net.rules
    instead, judged on its own)."""
    ident, family = getattr(distro, "id", ""), getattr(distro, "family", "")
    version = distro.major_minor() if hasattr(distro, "major_minor") else []
    if not version:
        return False
    if family == "rhel" and ident != "fedora":
        return version[0] < 7
    if ident in ("sles", "sled"):
        return version[0] < 12
    if ident == "ubuntu":
        return version < [15, 10]
    if ident == "debian":
        return version[0] < 9
    return False


def kernel_names_eth(system: System, boot: Optional[object] = None) -> bool:
    """net.ifnames=0 is on the kernel command line and stays there: in the default boot entry
    (when known) and in GRUB_CMDLINE_LINUX(_DEFAULT) of /etc/default/grub(.d) (when present)."""
    sources = []
    default = getattr(boot, "default", None)
    if default is not None:
        sources.append(default.cmdline)
    if grub_default_files(system):
        sources.append(" ".join(grub_cmdline_var(system, n)[0] for n in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")))
    return bool(sources) and all(IFNAMES_OFF in source.replace('"', " ").replace("'", " ").split() for source in sources)


def broken_targets(patterns: List[str], eth: bool) -> List[str]:
    """Targets on which the NIC's name matches none of ``patterns`` (globs; ``!`` negates)."""
    names = KERNEL_NIC_NAMES if eth else TARGET_NIC_NAMES
    broken = []
    for target in ("kvm", "xen"):
        for name in names[target]:
            positive = [p for p in patterns if not p.startswith("!")]
            negative = [p[1:] for p in patterns if p.startswith("!")]
            if not any(fnmatch.fnmatchcase(name, p) for p in positive) or any(fnmatch.fnmatchcase(name, p) for p in negative):
                broken.append(target)
                break
    return broken


def _is_nic(patterns: List[str], renamed: List[str]) -> bool:
    """Patterns that name physical NICs (not lo, br0, bond0...), or names udev rules give them."""
    return any(PHYSICAL_NIC.match(p.lstrip("!")) or p.startswith(("e*", "en", "eth")) or p in renamed for p in patterns)


def _ifcfg_values(text: str) -> Dict[str, tuple]:
    values: Dict[str, tuple] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*([A-Z0-9_]+)=(.*)$", raw)
        if match:
            values[match.group(1)] = (match.group(2).strip().strip("\"'"), number)
    return values


def _ini_sections(text: str) -> List[tuple]:
    """(section, key, value, line number) of an INI-style file (networkd, NetworkManager keyfiles)."""
    section = ""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif "=" in line:
            key, value = line.split("=", 1)
            found.append((section, key.strip(), value.strip(), number))
    return found


def udev_renamed(system: System) -> Dict[str, tuple]:
    """NIC name -> (file, line) for every udev rule or .link file that gives a NIC a name by its
    MAC address or bus path (the new instance's NIC has neither)."""
    names: Dict[str, tuple] = {}
    for path in system.glob("/etc/udev/rules.d/*.rules"):
        for number, raw in enumerate((system.read_text(path) or "").splitlines(), 1):
            line = raw.strip()
            if line.startswith("#") or 'SUBSYSTEM=="net"' not in line.replace(" ", ""):
                continue
            match = re.search(r'\bNAME\s*:?=\s*"([^"]+)"', line)
            if match:
                names.setdefault(match.group(1), (path, number))
    for path in system.glob(NETWORKD_DIR + "/*.link"):
        entries = _ini_sections(system.read_text(path) or "")
        pinned = [e for e in entries if e[0] == "Match" and e[1] in ("MACAddress", "PermanentMACAddress", "Path")]
        name = next((e for e in entries if e[0] == "Link" and e[1] == "Name"), None)
        if pinned and name:
            names.setdefault(name[2], (path, pinned[0][3]))
    return names


def _name_issue(path: str, line: int, fmt: str, patterns: List[str], text: str, eth: bool,
                renamed: Dict[str, tuple]) -> Optional[NetIssue]:
    if not patterns or not _is_nic(patterns, list(renamed)):
        return None
    broken = broken_targets(patterns, eth)
    if any(p in renamed and not (eth and renamed[p][0] in PERSISTENT_RULES) for p in patterns):
        broken = ["kvm", "xen"]  # a name only a MAC/path rule gives (70-persistent-net.rules is judged on its own)
    if not broken:
        return None
    return NetIssue("name-bound", path, line, " ".join(patterns), text, fmt, broken)


def _netplan(system: System, path: str, eth: bool, renamed: Dict[str, tuple], issues: List[NetIssue]) -> None:
    """Line-based: the ids under ``ethernets:``, their ``match:`` name/macaddress, static addresses."""
    lines = (system.read_text(path) or "").splitlines()
    section_indent: Optional[int] = None
    id_indent: Optional[int] = None
    current: Optional[tuple] = None  # (id, line number, has match)
    in_match: Optional[int] = None

    def close() -> None:
        if current and not current[2]:
            issue = _name_issue(path, current[1], "netplan", [current[0]], "ethernets: %s: (no match:)" % current[0], eth, renamed)
            if issue:
                issues.append(issue)

    for number, raw in enumerate(lines, 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        if section_indent is not None and indent <= section_indent:
            close()
            section_indent, id_indent, current, in_match = None, None, None, None
        if line.startswith("ethernets:") and section_indent is None:
            section_indent = indent
            continue
        if line.startswith("macaddress:") and (section_indent is None or in_match is not None):
            issues.append(NetIssue("mac-pinned", path, number, current[0] if current else None, line, "netplan"))
        elif re.match(r"^dhcp4:\s*(false|no)\b", line) or line.startswith("addresses:"):
            issues.append(NetIssue("static", path, number, current[0] if current else None, line, "netplan"))
        if section_indent is None:
            continue
        if id_indent is None or indent == id_indent:
            close()
            id_indent = indent
            current = (line.split(":", 1)[0].strip().strip("\"'"), number, False)
            in_match = None
            continue
        if current is None:
            continue
        if in_match is not None and indent <= in_match:
            in_match = None
        if line.startswith("match:"):
            current = (current[0], current[1], True)
            in_match = indent
            inline = re.search(r"name:\s*\"?([^\",}]+)", line)
            if inline:
                issue = _name_issue(path, number, "netplan", [inline.group(1).strip()], line, eth, renamed)
                if issue:
                    issues.append(issue)
            if "macaddress:" in line:
                issues.append(NetIssue("mac-pinned", path, number, current[0], line, "netplan"))
        elif in_match is not None and line.startswith("name:"):
            value = line.split(":", 1)[1].strip().strip("\"'")
            issue = _name_issue(path, number, "netplan", [value], line, eth, renamed)
            if issue:
                issues.append(issue)
    close()


def read_network(system: System, boot: Optional[object] = None, eth: Optional[bool] = None) -> List[NetIssue]:
    """``eth``: judge names as if net.ifnames=0 were (True) or were not (False) on the kernel
    command line; by default as the boot configuration says."""
    issues: List[NetIssue] = []
    eth = kernel_names_eth(system, boot) if eth is None else eth
    renamed = udev_renamed(system)
    for path in PERSISTENT_RULES:
        text = system.read_text(path)
        if text and any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
            issues.append(NetIssue("persistent-rules", path, None, None, "NIC names pinned to MAC addresses", "udev"))
    for name, (path, line) in sorted(renamed.items()):
        if path not in PERSISTENT_RULES:
            issues.append(NetIssue("name-rule", path, line, name, "names a NIC %s by its MAC address or bus path" % name,
                                   "networkd-link" if path.endswith(".link") else "udev"))
    for path in GENERATOR_RULES:
        if system.is_file(path) and not system.exists(GENERATOR_MASK):
            issues.append(NetIssue("rules-generator", path, None, None, "recreates 70-persistent-net.rules at every boot", "udev"))
            break
    for pattern in IFCFG_GLOBS:
        for path in system.glob(pattern):
            name = path.rsplit("ifcfg-", 1)[-1]
            if name == "lo" or name.endswith((".bak", ".orig", "~")):
                continue
            values = _ifcfg_values(system.read_text(path) or "")
            proto = values.get("BOOTPROTO", ("", 0))[0].lower()
            if proto in ("static", "none", "") and any(STATIC_KEY.match(k) for k in values) or \
                    any(STATIC_KEY.match(k) and k not in STATIC_KEYS for k in values):
                issues.append(NetIssue("static", path, values.get("BOOTPROTO", ("", None))[1], name,
                                       "BOOTPROTO=%s with a fixed address" % (proto or "unset"), "ifcfg"))
            for key in MAC_KEYS:
                if key in values and values[key][0]:
                    issues.append(NetIssue("mac-pinned", path, values[key][1], name, "%s=%s" % (key, values[key][0]), "ifcfg"))
            device, line = values.get("DEVICE", (name, None))
            issue = _name_issue(path, line or 1, "ifcfg", [device], "DEVICE=%s" % device, eth, renamed)
            if issue and values.get("TYPE", ("Ethernet", 0))[0].lower() == "ethernet":
                issues.append(issue)
    for path in ["/etc/network/interfaces"] + system.glob("/etc/network/interfaces.d/*"):
        for number, raw in enumerate((system.read_text(path) or "").splitlines(), 1):
            words = raw.split("#", 1)[0].split()
            if len(words) >= 4 and words[0] == "iface" and words[2] == "inet" and words[3] == "static" and words[1] != "lo":
                issues.append(NetIssue("static", path, number, words[1], raw.strip(), "interfaces"))
            if words[:1] == ["hwaddress"]:
                issues.append(NetIssue("mac-pinned", path, number, None, raw.strip(), "interfaces"))
            names: List[str] = []
            if words[:1] == ["iface"] and len(words) >= 2:
                names = [words[1]]
            elif words[:1] and (words[0] == "auto" or words[0].startswith("allow-")):
                names = words[1:]
            for name in names:
                if "." in name or ":" in name:
                    continue  # a VLAN or alias of a NIC whose own stanza is judged (and renamed with it)
                issue = _name_issue(path, number, "interfaces", [name], raw.strip(), eth, renamed)
                if issue:
                    issues.append(issue)
    for path in sorted(system.glob("/etc/netplan/*.yaml") + system.glob("/etc/netplan/*.yml")):
        _netplan(system, path, eth, renamed, issues)
    for path in system.glob(NETWORKD_DIR + "/*.network"):
        for section, key, value, number in _ini_sections(system.read_text(path) or ""):
            if section != "Match":
                continue
            if key == "Name":
                issue = _name_issue(path, number, "networkd", value.split(), "Name=%s" % value, eth, renamed)
                if issue:
                    issues.append(issue)
            elif key in ("MACAddress", "PermanentMACAddress"):
                issues.append(NetIssue("mac-pinned", path, number, None, "%s=%s" % (key, value), "networkd"))
    for path in system.glob(NM_DIR + "/*"):
        entries = _ini_sections(system.read_text(path) or "")
        kind = next((v for s, k, v, _ in entries if s == "connection" and k == "type"), "")
        if kind not in ("ethernet", "802-3-ethernet"):
            continue
        for section, key, value, number in entries:
            if section == "ipv4" and key == "method" and value == "manual":
                issues.append(NetIssue("static", path, number, None, "method=manual", "nm"))
            elif section in ("ethernet", "802-3-ethernet") and key == "mac-address" and value:
                issues.append(NetIssue("mac-pinned", path, number, None, "mac-address=%s" % value, "nm"))
            elif section == "connection" and key == "interface-name" and value:
                issue = _name_issue(path, number, "nm", [value], "interface-name=%s" % value, eth, renamed)
                if issue:
                    issues.append(issue)
    return issues
