"""Guest-wide rules: PV suites, modprobe rules, unstable device names, generator persistence."""

from typing import Dict, List

from .. import bootloaders, generators
from ..facts import Facts
from ..facts.kmod import normalize
from .findings import ERROR, INFO, WARNING, Finding

DEVICE_BREAKS = {
    "xvd": (["kvm"], "XEN names disks xvdX; on KVM the same disk is vdX"),
    "vd": (["xen"], "KVM (virtio-blk) names disks vdX; on XEN the same disk is xvdX"),
    "sd": (["kvm", "xen"], "sdX exists only with emulated/SCSI disks; KVM uses vdX and XEN xvdX"),
    "hd": (["kvm", "xen"], "hdX exists only with emulated IDE disks; KVM uses vdX and XEN xvdX"),
    "by-id": (["kvm", "xen"], "/dev/disk/by-id names carry the hypervisor's disk serial/bus"),
    "by-path": (["kvm", "xen"], "/dev/disk/by-path names carry the hypervisor's bus address"),
}


def suite_findings(facts: Facts) -> List[Finding]:
    findings = []
    for found in facts.suites:
        suite = found.suite
        blocks = list(suite.get("blocks", []))
        how = []
        if found.uninstallers:
            how.append("run %s" % found.uninstallers[0])
        if found.packages:
            how.append("remove the package(s) %s" % " ".join(found.packages))
        remedy = " then ".join(how) or "remove its files and services"
        message = "%s is installed (%s): %s" % (suite["name"], "; ".join(found.evidence[:6]), suite["why"])
        if blocks:
            findings.append(Finding("PV_SUITE_BLOCKS", ERROR, blocks, message, remedy, subject=found.id))
        else:
            findings.append(Finding("PV_SUITE_PRESENT", WARNING, ["kvm", "xen"], message, remedy, subject=found.id))
    return findings


def modprobe_findings(facts: Facts) -> List[Finding]:
    findings = []
    required: Dict[str, List[str]] = {}
    for target in ("kvm", "xen"):
        for spec in facts.knowledge.target_drivers(target):
            required.setdefault(normalize(spec["name"]), []).append(target)
    for rule in facts.modprobe_rules:
        targets = required.get(rule.module)
        if not targets:
            continue
        what = {"blacklist": "blacklists", "install": "replaces the loading of", "alias": "redirects"}[rule.kind]
        findings.append(Finding(
            "MODPROBE_BLOCKS_DRIVER", ERROR, targets,
            "%s:%d %s %s: '%s'" % (rule.path, rule.line, what, rule.module, rule.text),
            "delete that line from %s (PV driver suites leave such rules behind)" % rule.path,
            file=rule.path, line=rule.line))
    return findings


def device_findings(facts: Facts) -> List[Finding]:
    findings = []
    for ref in facts.device_refs:
        targets, why = DEVICE_BREAKS[ref.kind]
        where = "mount point %s" % ref.context if ref.path.endswith("fstab") else ref.context
        findings.append(Finding(
            "DEVICE_NAME_UNSTABLE", ERROR, targets,
            "%s:%d names %s by device name (%s): %s" % (ref.path, ref.line, where, ref.device, why),
            "use UUID=<uuid> (blkid %s) instead of %s%s" % (ref.device, ref.device,
                                                            "; regenerate grub.cfg with the distro's grub-mkconfig"
                                                            if ref.path.endswith("grub.cfg") else ""),
            file=ref.path, line=ref.line))
    return findings


def generator_findings(facts: Facts) -> List[Finding]:
    """Will the next initramfs rebuild (a kernel update) keep the drivers? Only modules that
    are ``=m`` in some kernel matter: built-in drivers need nothing."""
    gen = facts.generator
    findings: List[Finding] = []
    if gen.active is None:
        if facts.kernels:
            findings.append(Finding(
                "NO_INITRAMFS_GENERATOR", WARNING, ["kvm", "xen"],
                "no initramfs generator (dracut, initramfs-tools, SUSE mkinitrd) is installed; no initramfs can be rebuilt",
                "install dracut (RHEL/SUSE family) or initramfs-tools (Debian family)"))
        return findings
    strategy = generators.lookup(facts.knowledge, gen.active)
    assert strategy is not None
    as_module: Dict[str, List[str]] = {}
    for target in ("kvm", "xen"):
        for spec in facts.knowledge.target_drivers(target):
            name = normalize(spec["name"])
            for kernel in facts.kernels:
                if name not in kernel.builtin and kernel.module_path(name):
                    as_module.setdefault(target, [])
                    if name not in as_module[target]:
                        as_module[target].append(name)
    for target, modules in sorted(as_module.items()):
        forced = set(gen.forced_modules)
        missing = [m for m in modules if m not in forced]
        if not missing:
            continue
        version = facts.distro.major_minor()
        risky = strategy.trap(gen, facts.distro.family, target, missing, version[0] if version else None)
        if risky:
            findings.append(Finding(
                "DRIVERS_NOT_PERSISTENT", WARNING, [target],
                "future initramfs rebuilds (kernel updates) may lose the %s drivers: %s" % (target.upper(), risky),
                strategy.persist_remedy(missing), file=gen.config_files[0] if gen.config_files else None))
    return findings


def kernel_inventory_findings(facts: Facts) -> List[Finding]:
    findings = []
    if not facts.kernels:
        where = "this machine" if facts.system.live else facts.system.root
        findings.append(Finding(
            "NO_KERNEL", ERROR, ["kvm", "xen"],
            "no installed kernel found on %s (no kernel image in /boot with a /lib/modules directory)%s" % (
                where, "; this looks like a container" if facts.system.live else ""),
            "run imsprep on the server that will become the image, or on its mounted disk with --root DIR"))
    if facts.kernels and facts.boot.loader is None:
        findings.append(Finding(
            "NO_BOOTLOADER_CONFIG", INFO, ["kvm", "xen"],
            "no bootloader configuration found (looked for: %s); every installed kernel is judged" % ", ".join(
                b.name for b in bootloaders.detection_order()),
            "", blocking=False))
    elif facts.boot.default is not None and facts.default_kernel is None:
        findings.append(Finding(
            "DEFAULT_KERNEL_NOT_INSTALLED", ERROR, ["kvm", "xen"],
            "the default boot entry %r (%s) loads %s, which is not an installed kernel" % (
                facts.boot.default.title, facts.boot.default.source, facts.boot.default.kernel),
            "regenerate the bootloader configuration or set a default entry that exists",
            file=facts.boot.default.source, line=facts.boot.default.line))
    for path in facts.orphan_module_dirs:
        findings.append(Finding(
            "ORPHAN_MODULES_DIR", INFO, ["kvm", "xen"],
            "%s has modules but no kernel image in /boot; it is not bootable and was not judged" % path, ""))
    if facts.unreadable:
        findings.append(Finding(
            "NOT_ROOT", WARNING, ["kvm", "xen"],
            "not running as root: could not read %s" % ", ".join(sorted(set(facts.unreadable))),
            "run imsprep as root for a complete check"))
    system = facts.system
    for path in getattr(system, "truncated", []):
        findings.append(Finding(
            "FILE_READ_IN_PART", WARNING, ["kvm", "xen"],
            "%s is larger than %d bytes (max_read_bytes): only its beginning was read, what follows was not checked"
            % (path, system.max_read_bytes),
            "look at %s: a configuration file that large is damaged or hostile; or raise max_read_bytes in "
            "/etc/imsprep/imsprep.conf" % path, file=path))
    for path, why in sorted(getattr(system, "unreadable", {}).items()):
        findings.append(Finding(
            "FILE_NOT_REGULAR", WARNING, ["kvm", "xen"], "%s is %s" % (path, why),
            "replace %s with a regular file" % path, file=path))
    return findings


def platform_findings(facts: Facts) -> List[Finding]:
    platform = facts.platform
    if not facts.system.live:
        return []
    hv = platform.hypervisor or "unknown"
    message = "running on %s (%s)" % (hv.upper() if hv in ("xen", "kvm") else hv, "; ".join(platform.evidence) or "no evidence")
    if hv == "xen":
        message += ": uninstall PV drivers first, then add both XEN and KVM drivers"
    elif hv == "kvm":
        message += ": KVM drivers are needed; XEN drivers keep the image usable on XEN"
    elif hv == "qemu":
        message += ": QEMU without KVM acceleration (TCG) gives the guest the same virtio devices as KVM"
    return [Finding("HYPERVISOR", INFO, ["kvm", "xen"], message, "", blocking=False)]


NETWORK_WHY = {
    "persistent-rules": ("NET_PERSISTENT_RULES", "pins NIC names to this machine's MAC addresses: the new instance's NIC gets another name",
                         "delete the file (imsprep fix does)"),
    "rules-generator": ("NET_RULES_GENERATOR", "recreates persistent NIC names at every boot",
                        "mask it with an empty /etc/udev/rules.d/75-persistent-net-generator.rules (imsprep fix does)"),
    "static": ("NET_STATIC_ADDRESS", "a fixed address does not match the network of a new instance",
               "configure the NIC for DHCP"),
    "mac-pinned": ("NET_MAC_PINNED", "the configuration is tied to this machine's MAC address",
                   "remove the MAC address from the NIC configuration"),
    "name-rule": ("NET_NAME_RULE", "the new instance's NIC has another MAC address and bus path, so it keeps the name "
                  "udev gives it and configuration that expects this name finds no NIC",
                  "remove the rule (imsprep fix does)"),
    "name-bound": ("NET_NAME_BOUND", "", ""),
}
NIC_NAME_ON = {"xen": "a Xen vif is enX0 (eth0 with older udev)", "kvm": "a virtio-net NIC is ens2, ens3 or enp1s0 by its slot"}
NAME_REMEDY = {
    "networkd": "match every wired NIC: [Match] Name=en* eth* (imsprep fix does; DHCP stays)",
    "netplan": 'match every wired NIC: match: name: "e*" instead of the name or MAC (imsprep fix does)',
    "nm": "remove interface-name= so the profile applies to any ethernet NIC (imsprep fix does)",
    "interfaces": "configure eth0 by DHCP and boot with net.ifnames=0, as cloud images do (imsprep fix does)",
    "ifcfg": "configure eth0 (DEVICE=eth0, ifcfg-eth0) by DHCP and boot with net.ifnames=0, as cloud images do (imsprep fix does)",
}


def network_findings(facts: Facts) -> List[Finding]:
    findings = []
    for issue in facts.network:
        code, why, remedy = NETWORK_WHY[issue.kind]
        if issue.kind == "name-bound":
            why = "bound to the interface name %s, which the NIC will not have: %s" % (
                issue.interface, "; ".join(NIC_NAME_ON[t] for t in issue.targets))
            remedy = NAME_REMEDY.get(issue.format, "match the NIC by a pattern every wired NIC matches (en* eth*)")
        where = "%s:%d" % (issue.path, issue.line) if issue.line else issue.path
        findings.append(Finding(code, WARNING, issue.targets, "%s (%s): %s" % (where, issue.text, why), remedy,
                                file=issue.path, line=issue.line))
    return findings


def seal_findings(facts: Facts) -> List[Finding]:
    """What `imsprep seal` would still remove or empty: information for the capture, not readiness."""
    pending = facts.seal_pending
    if not pending:
        return []
    total = sum(pending.values())
    what = ", ".join("%s %d" % (name, count) for name, count in pending.items())
    return [Finding("SEAL_PENDING", INFO, ["kvm", "xen"],
                    "not sealed for capture: imsprep seal would still remove or empty %d item(s) (%s)" % (total, what),
                    "run `imsprep seal --dry-run` to see them, then `imsprep seal` as the last step before capture",
                    blocking=False)]
