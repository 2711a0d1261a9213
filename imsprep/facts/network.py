"""Network configuration that breaks on a new instance: persistent NIC naming rules (the new NIC
gets a new name), MAC-pinned or static-address configuration (the new NIC has another MAC and
the cloud hands out addresses by DHCP)."""

import re
from typing import Dict, List, Optional

from ..system import System

PERSISTENT_RULES = ["/etc/udev/rules.d/70-persistent-net.rules", "/etc/udev/rules.d/30-net_persistent-names.rules"]
GENERATOR_RULES = ["/lib/udev/rules.d/75-persistent-net-generator.rules", "/usr/lib/udev/rules.d/75-persistent-net-generator.rules"]
GENERATOR_MASK = "/etc/udev/rules.d/75-persistent-net-generator.rules"
IFCFG_GLOBS = ["/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*"]
STATIC_KEYS = ("IPADDR", "NETMASK", "PREFIX", "GATEWAY", "IPADDR0", "PREFIX0", "GATEWAY0")
MAC_KEYS = ("HWADDR", "MACADDR", "LLADDR")


class NetIssue:
    def __init__(self, kind: str, path: str, line: Optional[int], interface: Optional[str], text: str):
        self.kind = kind  # persistent-rules | rules-generator | static | mac-pinned
        self.path = path
        self.line = line
        self.interface = interface
        self.text = text

    def to_dict(self) -> Dict[str, object]:
        return {"kind": self.kind, "file": self.path, "line": self.line, "interface": self.interface, "text": self.text}


def _ifcfg_values(text: str) -> Dict[str, tuple]:
    values: Dict[str, tuple] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*([A-Z0-9_]+)=(.*)$", raw)
        if match:
            values[match.group(1)] = (match.group(2).strip().strip("\"'"), number)
    return values


def read_network(system: System) -> List[NetIssue]:
    issues: List[NetIssue] = []
    for path in PERSISTENT_RULES:
        text = system.read_text(path)
        if text and any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
            issues.append(NetIssue("persistent-rules", path, None, None, "NIC names pinned to MAC addresses"))
    for path in GENERATOR_RULES:
        if system.is_file(path) and not system.exists(GENERATOR_MASK):
            issues.append(NetIssue("rules-generator", path, None, None, "recreates 70-persistent-net.rules at every boot"))
            break
    for pattern in IFCFG_GLOBS:
        for path in system.glob(pattern):
            name = path.rsplit("ifcfg-", 1)[-1]
            if name == "lo" or name.endswith((".bak", ".orig", "~")):
                continue
            values = _ifcfg_values(system.read_text(path) or "")
            proto = values.get("BOOTPROTO", ("", 0))[0].lower()
            if proto in ("static", "none", "") and any(k in values for k in STATIC_KEYS):
                issues.append(NetIssue("static", path, values.get("BOOTPROTO", ("", None))[1], name,
                                       "BOOTPROTO=%s with a fixed address" % (proto or "unset")))
            for key in MAC_KEYS:
                if key in values and values[key][0]:
                    issues.append(NetIssue("mac-pinned", path, values[key][1], name, "%s=%s" % (key, values[key][0])))
    for path in ["/etc/network/interfaces"] + system.glob("/etc/network/interfaces.d/*"):
        for number, raw in enumerate((system.read_text(path) or "").splitlines(), 1):
            words = raw.split()
            if len(words) >= 4 and words[0] == "iface" and words[2] == "inet" and words[3] == "static" and words[1] != "lo":
                issues.append(NetIssue("static", path, number, words[1], raw.strip()))
    for path in system.glob("/etc/netplan/*.yaml"):
        for number, raw in enumerate((system.read_text(path) or "").splitlines(), 1):
            line = raw.strip()
            if line.startswith("macaddress:"):
                issues.append(NetIssue("mac-pinned", path, number, None, line))
            elif re.match(r"^dhcp4:\s*(false|no)\b", line) or line.startswith("addresses:"):
                issues.append(NetIssue("static", path, number, None, line))
    for path in system.glob("/etc/NetworkManager/system-connections/*"):
        section = ""
        for number, raw in enumerate((system.read_text(path) or "").splitlines(), 1):
            line = raw.strip()
            if line.startswith("["):
                section = line
            elif section == "[ipv4]" and line == "method=manual":
                issues.append(NetIssue("static", path, number, None, line))
            elif section in ("[ethernet]", "[802-3-ethernet]") and line.startswith("mac-address="):
                issues.append(NetIssue("mac-pinned", path, number, None, line))
    return issues
