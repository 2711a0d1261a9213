"""Plan steps that make names stable across hypervisors: kernel device names become UUID= in
fstab and the boot configuration; persistent NIC rules go; static or MAC-pinned NIC
configuration becomes DHCP; configuration bound to a NIC name the other hypervisor does not give
matches every wired NIC (networkd, netplan, NetworkManager) or becomes eth0 by DHCP with
net.ifnames=0 on the kernel command line (interfaces(5), ifcfg). Every change to the kernel
command line (root=UUID=, net.ifnames=0) goes into one edit per file. What cannot be rewritten
(unresolvable UUIDs, device.map, static netplan/NetworkManager addresses) is reported as a problem
with its file and line."""

import re
from typing import Dict, List, Optional

from .. import bootloaders
from ..facts import Facts
from ..facts.hostdisk import guest_partition_number
from ..facts.network import (
    ANY_WIRED,
    GENERATOR_MASK,
    IFNAMES_OFF,
    MAC_KEYS,
    STATIC_KEY,
    NetIssue,
)
from ..facts.uuids import UuidResolver
from .actions import BOOT, DEVICES, NETWORK, Action, DeleteFile, EditFile, RegenerateGrub, place

IFACE_STANZA_KEYS = ("address", "netmask", "gateway", "network", "broadcast", "hwaddress")
NETPLAN_ANY_WIRED = "e*"  # netplan's match: name: takes one glob; en* (udev names) and eth* (net.ifnames=0)


def device_mapping(facts: Facts, resolver: UuidResolver, problems: List[str]) -> Dict[str, str]:
    """Kernel device name -> UUID for every reference that can be resolved."""
    mapping: Dict[str, str] = {}
    root_device: Optional[str] = None
    for ref in facts.device_refs:
        if ref.path.endswith("fstab") and ref.context == "/":
            root_device = ref.device
    for ref in facts.device_refs:
        if root_device is None and ref.context == "root=":
            root_device = ref.device
    named = guest_partition_number(root_device) if root_device else None
    if named:
        resolver.guest_root_disk = named[0]
    for ref in facts.device_refs:
        if ref.device in mapping:
            continue
        if ref.path.endswith("device.map"):
            continue
        mountpoint: Optional[str] = None
        if ref.path.endswith("fstab"):
            mountpoint = ref.context if ref.context.startswith("/") else None
        elif ref.context == "root=" or ref.device == root_device:
            mountpoint = "/"
        uuid, how = resolver.resolve(ref.device, mountpoint)
        if uuid:
            mapping[ref.device] = uuid
        else:
            problems.append("%s:%d: %s stays: %s" % (ref.path, ref.line, ref.device, how))
    return mapping


def _fstab_action(facts: Facts, mapping: Dict[str, str], path: str, field: int) -> Optional[Action]:
    lines = [r.line for r in facts.device_refs if r.path == path and r.device in mapping]
    if not lines:
        return None
    old = facts.system.read_text(path) or ""
    out = []
    for number, line in enumerate(old.splitlines(True), 1):
        if number in lines:
            parts = re.split(r"(\s+)", line)
            index = field * 2  # fields interleaved with whitespace
            if len(parts) > index and parts[index] in mapping:
                parts[index] = "UUID=" + mapping[parts[index]]
                line = "".join(parts)
        out.append(line)
    return EditFile(path, old, "".join(out), "block devices by UUID (names differ between XEN and KVM)")


def plan_devices(facts: Facts, actions: List[Action], problems: List[str], kernel_args: Optional[List[str]] = None) -> None:
    """Device names by UUID in fstab/crypttab and, with ``kernel_args`` (from plan_network), one
    edit of each boot configuration file for both."""
    system = facts.system
    mapping: Dict[str, str] = {}
    if facts.device_refs:
        resolver = UuidResolver(system)
        mapping = device_mapping(facts, resolver, problems)
        for ref in facts.device_refs:
            if ref.path.endswith("device.map"):
                problems.append("%s:%d names %s: GRUB 2 does not need device.map; delete it after checking the bootloader "
                                "still installs" % (ref.path, ref.line, ref.device))
        for step, (path, field) in enumerate((("/etc/fstab", 0), ("/etc/crypttab", 1))):
            action = _fstab_action(facts, mapping, path, field)
            if action:
                actions.append(place(action, DEVICES, step))
    if mapping or kernel_args:
        plan_boot_cmdline(facts, mapping, kernel_args or [], actions)


def plan_boot_cmdline(facts: Facts, mapping: Dict[str, str], args: List[str], actions: List[Action]) -> None:
    """root=/resume= by UUID (``mapping``) and kernel ``args`` (net.ifnames=0): one action per file,
    from every bootloader's edits (each file once)."""
    whats = (["root=/resume= by UUID"] if mapping else []) + (["adds %s" % " ".join(args)] if args else [])
    what = "; ".join(whats)
    seen = set()
    for number, loader in enumerate(bootloaders.registered()):
        for step, edit in enumerate(loader.edits(facts.system, facts.boot, mapping, args, what)):
            if edit.path in seen:
                continue
            seen.add(edit.path)
            if edit.generator and edit.old is not None:
                action: Action = RegenerateGrub(edit.path, edit.generator, edit.old, edit.new, edit.why, edit.kernel_args,
                                                by_uuid=edit.by_uuid)
            else:
                action = EditFile(edit.path, edit.old, edit.new, edit.why)
            actions.append(place(action, BOOT, number, step))  # the loader's own order: sources, then what is generated


def can_set_cmdline(facts: Facts) -> bool:
    return any(loader.can_set_cmdline(facts.system, facts.boot) for loader in bootloaders.registered())


def _ifcfg_dhcp(text: str, rename: Optional[Dict[str, str]] = None) -> str:
    out = []
    has_proto = False
    for line in text.splitlines(True):
        key, _, value = line.partition("=")
        key = key.strip()
        if STATIC_KEY.match(key) or key in MAC_KEYS:
            continue
        if key == "BOOTPROTO":
            line = "BOOTPROTO=dhcp\n"
            has_proto = True
        elif rename and key in ("DEVICE", "NAME"):
            bare = value.strip().strip("\"'")
            if bare in rename:
                line = "%s=%s\n" % (key, rename[bare])
        out.append(line)
    if not has_proto:
        out.append("BOOTPROTO=dhcp\n")
    return "".join(out)


def _interfaces_dhcp(text: str, interfaces: List[str], rename: Optional[Dict[str, str]] = None) -> str:
    """interfaces(5): stanzas of ``interfaces`` (and renamed ones) by DHCP, names renamed (with
    their VLANs/aliases and every option that names them), no MAC."""
    rename = rename or {}
    names = re.compile(r"(?<![\w.-])(%s)(?=[\s.:]|$)" % "|".join(re.escape(n) for n in rename)) if rename else None
    out = []
    in_static = False
    for line in text.splitlines(True):
        words = line.split()
        if words[:1] in (["iface"], ["auto"], ["allow-hotplug"], ["mapping"], ["source"]) or (words and words[0].startswith("allow-")):
            in_static = False
        original = words[1] if len(words) >= 2 else ""
        if names is not None and words and not words[0].startswith("#"):
            line = names.sub(lambda m: rename[m.group(1)], line)
            words = line.split()
        if len(words) >= 4 and words[0] == "iface" and (original in interfaces or re.split(r"[.:]", original)[0] in rename) \
                and words[2:4] == ["inet", "static"]:
            line = line.replace("static", "dhcp", 1)
            in_static = True
        elif in_static and words and words[0] in IFACE_STANZA_KEYS:
            continue
        elif words[:1] == ["hwaddress"]:
            continue
        out.append(line)
    return "".join(out)


def _networkd_any_wired(text: str) -> str:
    """[Match] Name=/MACAddress= of a .network file become one Name= matching every wired NIC."""
    out = []
    section = ""
    placed = False
    for line in text.splitlines(True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif section == "Match" and stripped.split("=", 1)[0].strip() in ("Name", "MACAddress", "PermanentMACAddress"):
            if not placed:
                out.append("Name=%s\n" % ANY_WIRED)
                placed = True
            continue
        out.append(line)
    return "".join(out)


def _nm_any_ethernet(text: str) -> str:
    """A NetworkManager keyfile without interface-name= and mac-address=: any ethernet device."""
    out = []
    section = ""
    for line in text.splitlines(True):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        key = stripped.split("=", 1)[0].strip()
        if (section == "connection" and key == "interface-name") or \
                (section in ("ethernet", "802-3-ethernet") and key == "mac-address"):
            continue
        out.append(line)
    return "".join(out)


def _netplan_any_wired(text: str, lines: List[int]) -> str:
    """Each id under ``ethernets:`` holding one of ``lines`` (1-based) matches every wired NIC:
    its ``match:`` block and ``set-name:`` give way to ``match: name: "e*"``; the rest is kept."""
    src = text.splitlines(True)

    def indent_of(line: str) -> int:
        return len(line) - len(line.lstrip())

    out: List[str] = []
    i = 0
    section: Optional[int] = None
    id_indent: Optional[int] = None
    while i < len(src):
        line = src[i]
        if not line.strip() or line.lstrip().startswith("#"):
            out.append(line)
            i += 1
            continue
        indent = indent_of(line)
        if section is not None and indent <= section:
            section, id_indent = None, None
        if section is None:
            if line.strip().startswith("ethernets:"):
                section = indent
            out.append(line)
            i += 1
            continue
        if id_indent is None:
            id_indent = indent
        # an id: its block runs to the next line at or above its indentation
        end = i + 1
        while end < len(src) and (not src[end].strip() or indent_of(src[end]) > indent):
            end += 1
        if not any(i + 1 <= n <= end for n in lines):
            out += src[i:end]
            i = end
            continue
        body = src[i + 1:end]
        child = min((indent_of(b) for b in body if b.strip()), default=indent + 4)
        step = child - indent
        kept: List[str] = []
        skip_under: Optional[int] = None
        for b in body:
            if skip_under is not None and (not b.strip() or indent_of(b) > skip_under):
                continue
            skip_under = None
            key = b.strip().split(":", 1)[0]
            if indent_of(b) == child and key in ("match", "set-name"):
                skip_under = child
                continue
            kept.append(b)
        out.append(line)
        out.append(" " * child + "match:\n")
        out.append(" " * (child + step) + 'name: "%s"\n' % NETPLAN_ANY_WIRED)
        out += kept
        i = end
    return "".join(out)


def _eth_names(issues: List[NetIssue], system_files: List[str]) -> Dict[str, str]:
    """Bound names of interfaces(5)/ifcfg configuration -> the ethN each becomes with net.ifnames=0,
    in the order they appear (the first NIC is eth0); ethN names keep their number."""
    rename: Dict[str, str] = {}
    names = []
    for issue in sorted(issues, key=lambda i: (i.path, i.line or 0)):
        if issue.kind == "name-bound" and issue.format in ("interfaces", "ifcfg") and issue.interface:
            if issue.interface not in names:
                names.append(issue.interface)
    used = {n for n in names if re.match(r"^eth\d+$", n)}
    used |= {p.rsplit("ifcfg-", 1)[-1] for p in system_files if re.search(r"ifcfg-eth\d+$", p)}
    number = 0
    for name in names:
        if re.match(r"^eth\d+$", name):
            rename[name] = name
            continue
        while "eth%d" % number in used:
            number += 1
        rename[name] = "eth%d" % number
        used.add(rename[name])
    return rename


def plan_network(facts: Facts, actions: List[Action], problems: List[str]) -> List[str]:
    """Plan the network fixes from the check's facts; return the kernel arguments they need
    (net.ifnames=0 when configuration was moved to eth0), for plan_devices' boot edits."""
    system = facts.system
    issues = list(facts.network)
    settable = can_set_cmdline(facts)
    eth_on = facts.names_eth
    rename = _eth_names(issues, [i.path for i in issues if i.format == "ifcfg"]) if settable else {}
    if rename and not eth_on:
        # net.ifnames=0 will go on: a pattern that is neutral today (Name=en*) must match eth0 then
        known = {(i.path, i.line) for i in issues}
        issues += [i for i in facts.network_if_eth if i.kind == "name-bound"
                   and i.format in ("networkd", "netplan", "nm") and (i.path, i.line) not in known]
    by_file: Dict[str, List[NetIssue]] = {}
    for issue in issues:
        by_file.setdefault(issue.path, []).append(issue)
    kernel_args: List[str] = []
    for path, items in sorted(by_file.items()):
        first = len(actions)
        kinds = {i.kind for i in items}
        fmt = items[0].format
        old = system.read_text(path) or ""
        if "persistent-rules" in kinds:
            actions.append(DeleteFile(path, "persistent NIC names would rename the new instance's NIC"))
        elif "rules-generator" in kinds:
            actions.append(EditFile(GENERATOR_MASK, None, "", "an empty rule masks %s, which recreates persistent NIC names" % path))
        elif "name-rule" in kinds and fmt == "networkd-link":
            actions.append(DeleteFile(path, "it names a NIC by a MAC address or bus path the new instance does not have"))
        elif "name-rule" in kinds:
            lines = {i.line for i in items}
            new = "".join("# imsprep: disabled, names a NIC by its MAC/bus path: " + line if number in lines else line
                          for number, line in enumerate(old.splitlines(True), 1))
            actions.append(EditFile(path, old, new, "udev rules naming a NIC by its MAC/bus path are disabled"))
        elif fmt == "ifcfg":
            bound = [i.interface for i in items if i.kind == "name-bound" and i.interface in rename]
            new = _ifcfg_dhcp(old, rename if bound else None)
            target = path
            if bound and rename[bound[0]] != bound[0]:
                target = path.rsplit("ifcfg-", 1)[0] + "ifcfg-" + rename[bound[0]]
            if bound:
                kernel_args = [IFNAMES_OFF]
            elif any(i.kind == "name-bound" for i in items):
                problems.append("%s: bound to %s and there is no boot configuration to add %s to: configure the NIC by "
                                "hand" % (path, next(i.interface for i in items if i.kind == "name-bound"), IFNAMES_OFF))
            if target != path:
                actions.append(EditFile(target, None, new, "the NIC is %s by DHCP (was %s): with %s every hypervisor's "
                                        "first NIC is %s" % (rename[bound[0]], path, IFNAMES_OFF, rename[bound[0]])))
                actions.append(DeleteFile(path, "replaced by %s" % target))
            elif new != old:
                actions.append(EditFile(path, old, new, "the NIC uses DHCP, not a fixed address or MAC"))
        elif fmt == "interfaces":
            static = [i.interface for i in items if i.kind == "static" and i.interface]
            renamed = {i.interface: rename[i.interface] for i in items if i.kind == "name-bound" and i.interface in rename}
            unplaced = [i for i in items if i.kind == "name-bound" and i.interface not in rename]
            for item in unplaced:
                problems.append("%s:%s: bound to %s and there is no boot configuration to add %s to: configure the NIC "
                                "by hand" % (path, item.line, item.interface, IFNAMES_OFF))
            new = _interfaces_dhcp(old, static, renamed)
            if renamed:
                kernel_args = [IFNAMES_OFF]
            if new != old:
                why = "the NIC uses DHCP" + ("; %s becomes %s (%s on the kernel command line)" % (
                    ", ".join(sorted(renamed)), ", ".join(renamed[n] for n in sorted(renamed)), IFNAMES_OFF) if renamed else "")
                actions.append(EditFile(path, old, new, why))
        elif fmt == "networkd" and kinds & {"name-bound", "mac-pinned"}:
            actions.append(EditFile(path, old, _networkd_any_wired(old), "match every wired NIC (Name=%s), "
                                    "whatever the hypervisor names it" % ANY_WIRED))
        elif fmt == "netplan" and kinds & {"name-bound", "mac-pinned"}:
            new = _netplan_any_wired(old, [i.line for i in items if i.kind in ("name-bound", "mac-pinned") and i.line])
            if new != old:
                actions.append(EditFile(path, old, new, 'match every wired NIC (match: name: "%s")' % NETPLAN_ANY_WIRED))
            for item in items:
                if item.kind == "static":
                    problems.append("%s:%s: %s is not rewritten automatically: use DHCP for the primary NIC" % (path, item.line, item.text))
        elif fmt == "nm" and kinds & {"name-bound", "mac-pinned"}:
            actions.append(EditFile(path, old, _nm_any_ethernet(old), "the profile applies to any ethernet NIC "
                                    "(no interface-name=, no mac-address=)"))
            for item in items:
                if item.kind == "static":
                    problems.append("%s:%s: %s is not rewritten automatically: use DHCP for the primary NIC" % (path, item.line, item.text))
        else:
            for item in items:
                problems.append("%s:%s: %s is not rewritten automatically: use DHCP and no MAC match for the primary NIC"
                                % (path, item.line, item.text))
        for step, action in enumerate(actions[first:]):
            place(action, NETWORK, path, step)  # file by file; a replacement is created before the old file goes
    return [] if eth_on else kernel_args
