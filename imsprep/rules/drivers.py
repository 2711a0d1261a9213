"""Per kernel and target: is every required driver built in, or a module inside the initramfs
together with everything it depends on?"""

from typing import Dict, List, Optional

from .. import generators
from ..facts import Facts, InitramfsFact
from ..facts.kernels import Kernel
from ..facts.kmod import first_symbol, normalize
from .findings import ERROR, INFO, WARNING, Finding

BUILTIN = "builtin"
MODULE = "module"
ABSENT = "absent"


class DriverStatus:
    def __init__(self, name: str, role: str, critical: bool = True):
        self.name = name
        self.role = role
        self.critical = critical  # a disk driver: without it in the initramfs the root disk is never found
        self.state = ABSENT
        self.evidence = ""
        self.module_path: Optional[str] = None
        self.substitute: List[str] = []  # legacy module names used instead (old SUSE XEN)
        self.needed: List[str] = []  # modules that must be in the initramfs (deps first)
        self.missing: List[str] = []  # of those, not found in the initramfs
        self.in_initramfs: Optional[bool] = None  # None: not needed, or the image is unreadable
        self.deps_known = True  # False: a module whose dependencies cannot be known (no modules.dep)

    @property
    def ok(self) -> bool:
        if self.state == ABSENT:
            return False
        if self.state == MODULE and not self.deps_known and self.critical:
            return False  # unknown is not ready: a dependency may be missing from the initramfs
        return not self.needed or self.in_initramfs is True or (not self.critical and self.in_initramfs is False)

    def to_dict(self) -> Dict[str, object]:
        return {"name": self.name, "role": self.role, "boot_critical": self.critical, "state": self.state, "evidence": self.evidence,
                "module_path": self.module_path, "substitute": self.substitute, "needed_in_initramfs": self.needed,
                "in_initramfs": self.in_initramfs, "missing_from_initramfs": self.missing,
                "dependencies_known": self.deps_known, "ok": self.ok}


class KernelTarget:
    def __init__(self, kernel: Kernel, target: str):
        self.kernel = kernel
        self.target = target
        self.drivers: List[DriverStatus] = []
        self.findings: List[Finding] = []

    @property
    def ready(self) -> bool:
        return all(d.ok for d in self.drivers) and not any(f.severity == ERROR for f in self.findings)

    def to_dict(self) -> Dict[str, object]:
        return {"ready": self.ready, "drivers": [d.to_dict() for d in self.drivers],
                "findings": [f.code for f in self.findings]}


def driver_state(kernel: Kernel, name: str, symbols: List[str]) -> DriverStatus:
    """Built in, module or absent -- from modules.builtin, the module files and the config."""
    status = DriverStatus(name, "")
    norm = normalize(name)
    symbol = first_symbol(kernel.config, symbols)
    value = kernel.config.get(symbol) if symbol else None
    if norm in kernel.builtin:
        status.state, status.evidence = BUILTIN, "listed in modules.builtin"
    elif kernel.module_path(norm):
        status.state = MODULE
        status.module_path = kernel.module_path(norm)
        status.evidence = "module file %s" % status.module_path
    elif value == "y":
        status.state, status.evidence = BUILTIN, "%s=y in %s" % (symbol, kernel.config_path)
    elif value == "m":
        status.evidence = "%s=m in %s but no %s module file under %s" % (symbol, kernel.config_path, name, kernel.modules_dir)
    elif symbol:
        status.evidence = "%s is not set in %s" % (symbol, kernel.config_path)
    elif kernel.has_config:
        status.evidence = "%s not in %s and no module file" % ("/".join(symbols), kernel.config_path)
    else:
        status.evidence = "no module file and no kernel config to tell"
    return status


def modules_needed(kernel: Kernel, name: str) -> List[str]:
    """The module and its dependencies (from modules.dep), minus what is built in."""
    closure = kernel.dep.closure(name) if kernel.dep else [normalize(name)]
    return [m for m in closure if m not in kernel.builtin]


def assess(facts: Facts, kernel: Kernel, target: str) -> KernelTarget:
    result = KernelTarget(kernel, target)
    fact = facts.initramfs.get(kernel.kver)
    for spec in facts.knowledge.target_drivers(target):
        status = driver_state(kernel, spec["name"], spec["symbols"])
        status.role = spec["role"]
        status.critical = spec.get("boot_critical", True)
        if status.state == ABSENT and spec.get("legacy"):
            legacy = [driver_state(kernel, n, []) for n in spec["legacy"]]
            if all(s.state != ABSENT for s in legacy):
                status.state = MODULE if any(s.state == MODULE for s in legacy) else BUILTIN
                status.substitute = [s.name for s in legacy]
                status.evidence = "old XEN driver names: " + ", ".join("%s (%s)" % (s.name, s.evidence) for s in legacy)
        if status.state == MODULE:
            status.deps_known = kernel.dep is not None
            for name in status.substitute or [spec["name"]]:
                for mod in modules_needed(kernel, name):
                    if mod not in status.needed:
                        status.needed.append(mod)
        result.drivers.append(status)
    if target == "kvm":
        for symbol in facts.knowledge.drivers.get("xen_pv_only_symbols", []):
            if kernel.config.get(symbol) == "y":
                result.findings.append(Finding(
                    "KERNEL_XEN_PV_ONLY", ERROR, ["kvm"],
                    "kernel %s is built for XEN PV only (%s=y in %s) and cannot boot on KVM" % (kernel.kver, symbol, kernel.config_path),
                    "install the distro's standard kernel (not the -xen flavour) and make it the default boot entry",
                    kernel=kernel.kver, file=kernel.config_path))
    _check_initramfs(facts, result, fact)
    return result


def _check_initramfs(facts: Facts, result: KernelTarget, fact: Optional[InitramfsFact]) -> None:
    kernel, target = result.kernel, result.target
    needing = [d for d in result.drivers if d.state == MODULE and d.needed]
    label = facts.knowledge.target_label(target)
    for status in result.drivers:
        if status.state == ABSENT:
            result.findings.append(Finding(
                "DRIVER_MISSING", ERROR, [target],
                "kernel %s has no %s driver (%s): %s" % (kernel.kver, status.name, status.role, status.evidence),
                _missing_remedy(facts, kernel, status.name), kernel=kernel.kver))
    if not needing:
        return
    if fact is None or fact.path is None or not fact.exists:
        where = fact.path if fact and fact.path else "none found"
        result.findings.append(Finding(
            "INITRAMFS_MISSING", ERROR, [target],
            "kernel %s has %s drivers as modules but no initramfs (%s)" % (kernel.kver, label, where),
            rebuild_remedy(facts, kernel, [m for d in needing for m in d.needed]), kernel=kernel.kver,
            file=fact.path if fact else None))
        return
    listing = fact.listing
    if listing is None:
        result.findings.append(Finding(
            "INITRAMFS_UNREADABLE", ERROR, [target],
            "initramfs %s of kernel %s could not be read (%s); whether it holds the %s drivers is unknown, not absent"
            % (fact.path, kernel.kver, fact.error or fact.native_error, label),
            "check the image with lsinitrd/lsinitramfs; rebuild it if it is damaged: " + rebuild_command(facts, kernel),
            kernel=kernel.kver, file=fact.path))
        return
    kvers = listing.kernel_versions
    if kvers and kernel.kver not in kvers:
        result.findings.append(Finding(
            "INITRAMFS_WRONG_KERNEL", ERROR, [target],
            "initramfs %s holds modules for %s, not for kernel %s" % (fact.path, ", ".join(sorted(kvers)), kernel.kver),
            rebuild_remedy(facts, kernel, []), kernel=kernel.kver, file=fact.path))
    present = listing.modules_for(kernel.kver)
    for status in needing:
        status.missing = [m for m in status.needed if m not in present]
        status.in_initramfs = not status.missing
    for critical, code, severity, why in (
            (True, "DRIVER_NOT_IN_INITRAMFS", ERROR, ""),
            (False, "NIC_DRIVER_NOT_IN_INITRAMFS", WARNING,
             "; the NIC still works once the root filesystem is mounted (udev loads the module from there), "
             "but the reference procedure asks for it in the initramfs")):
        group = [d for d in needing if d.missing and d.critical is critical]
        missing_all: List[str] = []
        for status in group:
            missing_all += [m for m in status.missing if m not in missing_all]
        if missing_all:
            result.findings.append(Finding(
                code, severity, [target],
                "initramfs %s of kernel %s lacks %s module(s): %s (needed for %s)%s"
                % (fact.path, kernel.kver, label, ", ".join(missing_all), ", ".join(d.name for d in group), why),
                rebuild_remedy(facts, kernel, missing_all), kernel=kernel.kver, file=fact.path))
    unknown = [d for d in needing if not d.deps_known]
    for critical, code, severity in ((True, "DRIVER_DEPS_UNKNOWN", ERROR), (False, "NIC_DRIVER_DEPS_UNKNOWN", WARNING)):
        names = [d.name for d in unknown if d.critical is critical]
        if names:
            result.findings.append(Finding(
                code, severity, [target],
                "kernel %s: the dependencies of %s cannot be known (modules.dep %s), so whether initramfs %s holds "
                "everything they need is unknown; unknown is not ready"
                % (kernel.kver, ", ".join(names), kernel.dep_error or "is missing", fact.path),
                "run depmod -a %s, then rebuild the initramfs (%s); `imsprep fix` does both"
                % (kernel.kver, rebuild_command(facts, kernel)), kernel=kernel.kver, file=fact.path))
    omitted = [m for d in needing for m in d.needed if m in facts.generator.omitted_modules]
    if omitted:
        result.findings.append(Finding(
            "GENERATOR_OMITS_DRIVER", WARNING, [target],
            "the %s configuration omits %s (omit_drivers)" % (facts.generator.active, ", ".join(sorted(set(omitted)))),
            "remove them from omit_drivers in %s" % ", ".join(facts.generator.config_files), kernel=kernel.kver))


def _missing_remedy(facts: Facts, kernel: Kernel, name: str) -> str:
    backups = kernel.module_backups
    if backups:
        return ("the UVP PV driver moved the native modules into %s: uninstall UVP VMTools "
                "(/etc/.uvp-monitor/uninstall), which restores them" % backups[0])
    family = facts.distro.family
    package = {"rhel": "kernel-modules (or kernel-modules-extra)", "debian": "the distro's standard linux-image package",
               "suse": "kernel-default (not kernel-xen)"}.get(family, "the distro's standard kernel")
    return "install %s for %s, or boot a kernel that has %s" % (package, kernel.kver, name)


def rebuild_command(facts: Facts, kernel: Kernel) -> str:
    strategy = generators.lookup(facts.knowledge, facts.generator.active)
    image = facts.initramfs.get(kernel.kver)
    if strategy is None:
        path = image.path if image and image.path else "/boot/initramfs-%s.img" % kernel.kver
        return "install dracut or initramfs-tools, then build %s" % path
    path = image.path if image and image.path else strategy.default_image(kernel.kver, facts.distro.family)
    return strategy.rebuild_command(kernel.kver, kernel.image, path)


def rebuild_remedy(facts: Facts, kernel: Kernel, modules: List[str]) -> str:
    strategy = generators.lookup(facts.knowledge, facts.generator.active)
    if strategy is None:
        return ("no initramfs generator (dracut, initramfs-tools, mkinitrd) is installed: install one, "
                "then build the initramfs of %s" % kernel.kver)
    if not modules:
        return "rebuild it: " + rebuild_command(facts, kernel)
    return "%s, then rebuild: %s" % (strategy.persist_remedy(modules), rebuild_command(facts, kernel))


def module_info_findings(facts: Facts, kernel: Kernel) -> List[Finding]:
    findings = []
    if kernel.dep is None:
        findings.append(Finding(
            "MODULES_DEP_MISSING", WARNING, ["kvm", "xen"],
            "modules.dep of kernel %s: %s; module dependencies are unknown and an initramfs built now would miss modules"
            % (kernel.kver, kernel.dep_error), "run: depmod -a %s" % kernel.kver, kernel=kernel.kver,
            file=(kernel.modules_dir or "") + "/modules.dep"))
    if not kernel.has_config and not kernel.builtin_known:
        findings.append(Finding(
            "KERNEL_CONFIG_MISSING", INFO, ["kvm", "xen"],
            "kernel %s has neither /boot/config-%s nor modules.builtin; built-in drivers cannot be recognised"
            % (kernel.kver, kernel.kver), "", kernel=kernel.kver))
    return findings
