"""From findings to a plan: which suites to remove, which files to edit, which kernels' initramfs
to rebuild — and only those. The order follows the reference procedure: PV suites first, then
driver configuration, then rebuilds."""

import copy
import os
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .. import __version__, generators
from ..facts import Facts
from ..facts.kernels import Kernel
from ..facts.kmod import normalize
from ..generators import InitramfsGenerator
from ..rules import Assessment
from ..rules.drivers import MODULE
from ..rules.findings import Finding
from ..rules.system_rules import DEVICE_BREAKS
from .actions import GENERATOR_CONFIG, MODPROBE, Action, EditFile, RebuildInitramfs, RemoveSuite, RunDepmod, in_order, place
from .stable_names import plan_devices, plan_network

MIN_IMAGE_ESTIMATE = 32 << 20


class Plan:
    def __init__(self):
        self.actions: List[Action] = []
        self.problems: List[str] = []  # what the plan cannot fix, said plainly
        self.notes: List[str] = []

    def only(self, actions: List[Action]) -> "Plan":
        part = Plan()
        part.actions = list(actions)
        return part

    @property
    def rebuilds(self) -> List[RebuildInitramfs]:
        return [a for a in self.actions if isinstance(a, RebuildInitramfs)]

    def to_dict(self) -> Dict[str, object]:
        return {"actions": [a.to_dict() for a in self.actions], "problems": self.problems, "notes": self.notes}


def driver_modules(facts: Facts, assessment: Assessment) -> List[str]:
    """Driver names to force into every initramfs: those that are modules in some kernel."""
    names: List[str] = []
    for item in assessment.kernels:
        for target in assessment.targets:
            for status in item.targets[target].drivers:
                if status.state == MODULE:
                    for name in status.substitute or [status.name]:
                        if normalize(name) not in names:
                            names.append(normalize(name))
    return names


# the finding codes each kind of action answers (every action names those check reported)
REBUILD_CODES = ("INITRAMFS_MISSING", "INITRAMFS_UNREADABLE", "INITRAMFS_WRONG_KERNEL", "DRIVER_NOT_IN_INITRAMFS",
                 "NIC_DRIVER_NOT_IN_INITRAMFS", "DRIVER_DEPS_UNKNOWN", "NIC_DRIVER_DEPS_UNKNOWN", "GENERATOR_OMITS_DRIVER")
DEPMOD_CODES = ("MODULES_DEP_MISSING", "DRIVER_DEPS_UNKNOWN", "NIC_DRIVER_DEPS_UNKNOWN")
SUITE_CODES = ("PV_SUITE_BLOCKS", "PV_SUITE_PRESENT")


def _codes(findings: List[Finding], wanted: Iterable[str], kernel: Optional[str] = None) -> List[str]:
    codes = set(wanted)
    return sorted({f.code for f in findings if f.code in codes and (kernel is None or f.kernel == kernel)})


def _answer(actions: List[Action], findings: List[Finding], family: Callable[[str], bool]) -> None:
    """Name on each action the reported findings it answers: those about the file it changes, else
    every reported finding of its family."""
    for action in actions:
        if action.findings:
            continue
        path = getattr(action, "path", None)
        codes = sorted({f.code for f in findings if family(f.code) and path is not None and f.file == path})
        action.findings = codes or sorted({f.code for f in findings if family(f.code)})


def _for_targets(facts: Facts, targets: List[str]) -> Facts:
    """The device names and network settings that break a requested target: check reports no
    others for these targets, so fix changes no others (a /dev/xvda or Name=enX0 is fine on XEN)."""
    wanted = set(targets)
    scoped = copy.copy(facts)
    scoped.device_refs = [r for r in facts.device_refs if wanted & set(DEVICE_BREAKS[r.kind][0])]
    scoped.network = [i for i in facts.network if wanted & set(i.targets)]
    return scoped


def build_plan(facts: Facts, assessment: Assessment, ignore_suites: Optional[List[str]] = None) -> Plan:
    plan = Plan()
    system = facts.system
    reported = assessment.findings
    _plan_suites(facts, assessment, plan, ignore_suites or [])
    _plan_modprobe(facts, assessment, plan)
    network: List[Action] = []
    scoped = _for_targets(facts, assessment.targets)
    kernel_args = plan_network(scoped, network, plan.problems)
    _answer(network, reported, lambda code: code.startswith("NET_"))
    first = len(plan.actions)
    plan_devices(scoped, plan.actions, plan.problems, kernel_args)  # with the kernel arguments the network needs
    _answer(plan.actions[first:], reported,
            lambda code: code == "DEVICE_NAME_UNSTABLE" or (bool(kernel_args) and code == "NET_NAME_BOUND"))
    plan.actions += network
    modules = driver_modules(facts, assessment)
    generator = facts.generator.active
    rebuilds: List[Action] = []
    unbuildable: List[str] = []
    for item in assessment.kernels:
        kernel = item.kernel
        reasons = _rebuild_reasons(facts, assessment, kernel)
        if not reasons:
            continue
        if generator is None:
            unbuildable.append("%s (%s)" % (kernel.kver, "; ".join(reasons)))
            continue
        if kernel.dep is None and kernel.modules_dir:
            rebuilds.append(RunDepmod(kernel))
            rebuilds[-1].findings = _codes(reported, DEPMOD_CODES, kernel.kver)
        rebuilds.append(_rebuild_action(facts, assessment, kernel, generator, modules, reasons))
        rebuilds[-1].findings = _codes(reported, REBUILD_CODES, kernel.kver)
    if unbuildable:
        plan.problems.append("no initramfs generator (dracut, initramfs-tools, SUSE mkinitrd) is installed, so the initramfs of "
                             "%s cannot be built: install one (dracut on RHEL/SUSE, initramfs-tools on Debian/Ubuntu) and run "
                             "imsprep fix again" % ", ".join(unbuildable))
    not_persistent = any(f.code == "DRIVERS_NOT_PERSISTENT" for f in reported)
    if modules and generator is not None and (rebuilds or not_persistent):
        # the drivers go into the generator's configuration too, so kernel updates keep them
        action = _plan_generator_config(facts, generator, modules)
        if action is not None:
            action.findings = sorted(set(_codes(reported, ("DRIVERS_NOT_PERSISTENT",))
                                         + [c for r in rebuilds for c in r.findings]))
            plan.actions.append(action)
    plan.actions += rebuilds
    plan.actions = in_order(plan.actions)  # each kind declares its place (suites first, rebuilds last)
    strategy = generators.lookup(facts.knowledge, generator)
    note = strategy.build_note(facts.generator, system.live) if strategy is not None else None
    if note and plan.rebuilds:
        plan.notes.append(note)
    return plan


def _rebuild_reasons(facts: Facts, assessment: Assessment, kernel: Kernel) -> List[str]:
    reasons: List[str] = []
    fact = facts.initramfs.get(kernel.kver)
    item = assessment.kernel_assessment(kernel.kver)
    assert item is not None
    needs_modules = False
    missing: List[str] = []
    for target in assessment.targets:
        for status in item.targets[target].drivers:
            if status.state == MODULE and status.needed:
                needs_modules = True
                if status.in_initramfs is False:
                    missing += [m for m in status.missing if m not in missing]
    if not needs_modules:
        return []
    if missing:
        reasons.append("lacks %s" % ", ".join(missing))
    if kernel.dep is None:
        reasons.append("module dependencies unknown (no modules.dep): depmod, then a complete image")
    if fact is None or not fact.exists:
        return ["no initramfs"]
    if fact.listing is None:
        return ["initramfs unreadable"]
    kvers = fact.listing.kernel_versions
    if kvers and kernel.kver not in kvers:
        return ["initramfs built for %s" % ", ".join(sorted(kvers))]
    return reasons


def _plan_generator_config(facts: Facts, generator: str, modules: List[str]) -> Optional[Action]:
    """The strategy's drop-in names each driver once, and none the guest's own lines name already
    (``xen-blkfront`` there is ``xen_blkfront`` here: names are compared folded)."""
    strategy = generators.lookup(facts.knowledge, generator)
    if strategy is None:
        return None
    old = facts.system.read_text(strategy.dropin)
    new = strategy.dropin_text(old, facts.generator, modules, __version__)
    if new is None:
        return None
    return place(EditFile(strategy.dropin, old, new, strategy.dropin_why), GENERATOR_CONFIG)


def _required_for(assessment: Assessment, kernel: Kernel) -> List[str]:
    item = assessment.kernel_assessment(kernel.kver)
    assert item is not None
    required: List[str] = []
    for target in assessment.targets:
        for status in item.targets[target].drivers:
            if status.state == MODULE:
                required += [m for m in status.needed if m not in required]
    return required


def _rebuild_action(facts: Facts, assessment: Assessment, kernel: Kernel, generator: str, modules: List[str],
                    reasons: List[str]) -> RebuildInitramfs:
    system = facts.system
    strategy = generators.lookup(facts.knowledge, generator)
    assert strategy is not None
    fact = facts.initramfs.get(kernel.kver)
    image = fact.path if fact and fact.path else strategy.default_image(kernel.kver, facts.distro.family)
    if system.is_symlink(image) and system.realpath(image).startswith("/boot/"):
        # the file a link names (KIWI's /boot/initrd.vmx -> initrd-<kver>): replacing the link with a new
        # file would leave initrd-<kver> without the drivers and the link gone
        image = system.realpath(image)
    estimate = max(2 * system.size(image), MIN_IMAGE_ESTIMATE)
    prepare: List[Action] = []
    private = strategy.private_config(facts.generator, system.live)
    confdir = None
    if private is not None:
        confdir = private[0]
        prepare.append(_private_config(strategy, *private))
    argv = strategy.rebuild_argv(kernel.kver, kernel.image, modules, system.live, confdir)
    return RebuildInitramfs(kernel, image, generator, argv, _required_for(assessment, kernel), reasons, estimate,
                            prepare=prepare)


def _private_config(strategy: InitramfsGenerator, confdir: str, extra: str, content: bytes) -> Action:
    """A private copy of the generator's configuration plus one file (for builds under --root)."""

    class CopyConf(Action):
        kind = "prepare"

        def summary(self) -> str:
            return "prepare %s (%s)" % (confdir, content.decode().strip())

        def apply(self, system, journal, progress) -> str:
            for path in strategy.config_files:
                system.makedirs(confdir)
                system.write_atomic(confdir + "/" + os.path.basename(path), (system.read_text(path) or "").encode())
            for directory in strategy.config_dirs:
                target = confdir + "/" + os.path.basename(directory)
                system.makedirs(target)
                for path in system.glob(directory + "/" + strategy.config_glob):
                    system.write_atomic(target + "/" + os.path.basename(path), (system.read_text(path) or "").encode())
            system.makedirs(os.path.dirname(confdir + "/" + extra))
            system.write_atomic(confdir + "/" + extra, content)
            return "prepared"

    return CopyConf()


def _plan_suites(facts: Facts, assessment: Assessment, plan: Plan, ignore: List[str]) -> None:
    """Only the suites check reported for the requested targets (a XenServer agent harms KVM, not XEN)."""
    reported = {f.subject: f.code for f in assessment.findings if f.code in SUITE_CODES and f.subject}
    for position, found in enumerate(facts.suites):
        suite = found.suite
        if found.id in ignore:
            plan.notes.append("%s is left alone (ignore_suites in imsprep.conf)" % suite["name"])
            continue
        if found.id not in reported:
            plan.notes.append("%s is left alone: it does not affect %s" % (
                suite["name"], " or ".join(t.upper() for t in assessment.targets)))
            continue
        packages: List[Tuple[str, str]] = [(name, facts.packages.versions[name]) for name in found.removable]
        files: List[str] = []
        for name, _ in packages:  # a purge deletes modified configuration files too: keep them
            files += [f for f in found.conffiles.get(name, []) if f not in files]
        for entry in found.evidence:
            if entry.startswith("file "):
                files.append(entry[len("file "):])
            elif entry.startswith("config block "):
                files.append(entry.rsplit(" in ", 1)[-1])
        uninstaller = found.uninstallers[0] if found.uninstallers else None
        if uninstaller is None and not packages:
            plan.problems.append("%s was found (%s) but neither an uninstaller nor a package: remove it by hand"
                                 % (suite["name"], "; ".join(found.evidence[:3])))
            continue
        action = RemoveSuite(found.id, str(suite["name"]), uninstaller, packages, facts.distro.package_db, files)
        action.findings = [reported[found.id]]
        action.within = (position,)  # in the order check found them
        plan.actions.append(action)


def _plan_modprobe(facts: Facts, assessment: Assessment, plan: Plan) -> None:
    blocking = {(f.file, f.line) for f in assessment.findings if f.code == "MODPROBE_BLOCKS_DRIVER"}
    by_file: Dict[str, List[int]] = {}
    for rule in facts.modprobe_rules:
        if (rule.path, rule.line) in blocking:
            by_file.setdefault(rule.path, []).append(rule.line)
    for path, lines in sorted(by_file.items()):
        old = facts.system.read_text(path) or ""
        out = []
        for number, line in enumerate(old.splitlines(True), 1):
            out.append("# imsprep: disabled, blocks a native XEN/KVM driver: " + line if number in lines else line)
        action = place(EditFile(path, old, "".join(out), "modprobe rules that block native drivers are disabled"), MODPROBE)
        action.findings = ["MODPROBE_BLOCKS_DRIVER"]
        plan.actions.append(action)
