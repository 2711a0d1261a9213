"""Plan steps that make names stable across hypervisors: kernel device names become UUID= in
fstab and the boot configuration; persistent NIC rules go; static or MAC-pinned NIC
configuration becomes DHCP. What cannot be rewritten (unresolvable UUIDs, device.map, netplan,
NetworkManager) is reported as a problem with its file and line."""

import re
from typing import Dict, List, Optional

from ..facts import Facts
from ..facts.hostdisk import guest_partition_number
from ..facts.network import GENERATOR_MASK, MAC_KEYS, STATIC_KEYS, read_network
from ..facts.uuids import UuidResolver
from .actions import Action, DeleteFile, EditFile, RegenerateGrub

GRUB_GENERATORS = ["grub2-mkconfig", "grub-mkconfig"]
CMDLINE_DEVICE = re.compile(r"(?<![\w.-])(root|resume)=(/dev/[^\s\"']+)")
IFACE_STANZA_KEYS = ("address", "netmask", "gateway", "network", "broadcast", "hwaddress")


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


def rewrite_cmdline(text: str, mapping: Dict[str, str]) -> str:
    return CMDLINE_DEVICE.sub(lambda m: "%s=UUID=%s" % (m.group(1), mapping[m.group(2)]) if m.group(2) in mapping else m.group(0), text)


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


def _grubenv_action(facts: Facts, path: str, mapping: Dict[str, str]) -> Optional[Action]:
    old = facts.system.read_text(path)
    if old is None:
        return None
    new = rewrite_cmdline(old, mapping)
    if new == old:
        return None
    # grubenv is a fixed 1024-byte block: keep its size by trimming or adding '#' padding
    body = new.rstrip("#")
    padded = body + "#" * max(0, len(old.encode()) - len(body.encode()))
    return EditFile(path, old, padded, "kernelopts by UUID")


def plan_devices(facts: Facts, actions: List[Action], problems: List[str]) -> None:
    if not facts.device_refs:
        return
    system = facts.system
    resolver = UuidResolver(system)
    mapping = device_mapping(facts, resolver, problems)
    for ref in facts.device_refs:
        if ref.path.endswith("device.map"):
            problems.append("%s:%d names %s: GRUB 2 does not need device.map; delete it after checking the bootloader "
                            "still installs" % (ref.path, ref.line, ref.device))
    for path, field in (("/etc/fstab", 0), ("/etc/crypttab", 1)):
        action = _fstab_action(facts, mapping, path, field)
        if action:
            actions.append(action)
    if not mapping:
        return
    default_grub = system.read_text("/etc/default/grub")
    if default_grub is not None:
        new = rewrite_cmdline(default_grub, mapping)
        new = re.sub(r"^(\s*GRUB_DISABLE_LINUX_UUID=)\"?true\"?", r"\1false", new, flags=re.M)
        if new != default_grub:
            actions.append(EditFile("/etc/default/grub", default_grub, new, "GRUB passes root=UUID= (regenerated below)"))
    generated = [p for p in facts.boot.files if p.endswith("grub.cfg") and system.is_file(p)]
    generator = next((g for g in GRUB_GENERATORS if system.which(g)), None)
    for path in generated:
        text = system.read_text(path) or ""
        new = rewrite_cmdline(text, mapping)
        if new == text:
            continue
        if generator and default_grub is not None:
            actions.append(RegenerateGrub(path, generator, text, new))
        else:
            actions.append(EditFile(path, text, new, "root=/resume= by UUID (no grub-mkconfig in the guest)"))
    others = [p for p in ("/boot/grub/menu.lst", "/boot/grub/grub.conf") if system.is_file(p) and not system.is_symlink(p)]
    others += system.glob("/boot/loader/entries/*.conf")
    for path in others:
        text = system.read_text(path) or ""
        new = rewrite_cmdline(text, mapping)
        if new != text:
            actions.append(EditFile(path, text, new, "root=/resume= by UUID"))
    for path in ("/boot/grub2/grubenv", "/boot/grub/grubenv"):
        if system.is_file(path) and not system.is_symlink(path):
            action = _grubenv_action(facts, path, mapping)
            if action:
                actions.append(action)


def _ifcfg_dhcp(text: str) -> str:
    out = []
    has_proto = False
    for line in text.splitlines(True):
        key = line.split("=", 1)[0].strip()
        if key in STATIC_KEYS or key in MAC_KEYS:
            continue
        if key == "BOOTPROTO":
            line = "BOOTPROTO=dhcp\n"
            has_proto = True
        out.append(line)
    if not has_proto:
        out.append("BOOTPROTO=dhcp\n")
    return "".join(out)


def _interfaces_dhcp(text: str, interfaces: List[str]) -> str:
    out = []
    in_static = False
    for line in text.splitlines(True):
        words = line.split()
        if words[:1] in (["iface"], ["auto"], ["allow-hotplug"], ["mapping"], ["source"]):
            in_static = False
        if len(words) >= 4 and words[0] == "iface" and words[1] in interfaces and words[2:4] == ["inet", "static"]:
            line = line.replace("static", "dhcp", 1)
            in_static = True
        elif in_static and words and words[0] in IFACE_STANZA_KEYS:
            continue
        out.append(line)
    return "".join(out)


def plan_network(facts: Facts, actions: List[Action], problems: List[str]) -> None:
    system = facts.system
    issues = read_network(system)
    by_file: Dict[str, List] = {}
    for issue in issues:
        by_file.setdefault(issue.path, []).append(issue)
    for path, items in sorted(by_file.items()):
        kinds = {i.kind for i in items}
        if "persistent-rules" in kinds:
            actions.append(DeleteFile(path, "persistent NIC names would rename the new instance's NIC"))
        elif "rules-generator" in kinds:
            actions.append(EditFile(GENERATOR_MASK, None, "", "an empty rule masks %s, which recreates persistent NIC names" % path))
        elif "/ifcfg-" in path:
            old = system.read_text(path) or ""
            actions.append(EditFile(path, old, _ifcfg_dhcp(old), "the NIC uses DHCP, not a fixed address or MAC"))
        elif path.startswith("/etc/network/interfaces"):
            old = system.read_text(path) or ""
            interfaces = [i.interface for i in items if i.interface]
            actions.append(EditFile(path, old, _interfaces_dhcp(old, interfaces), "the NIC uses DHCP"))
        else:
            for item in items:
                problems.append("%s:%s: %s is not rewritten automatically: use DHCP and no MAC match for the primary NIC"
                                % (path, item.line, item.text))
