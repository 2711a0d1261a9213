"""Rules: pure functions of the facts that produce findings and the verdict per target."""

from typing import Dict, List, Optional

from ..facts import Facts
from ..facts.kernels import Kernel
from . import drivers, system_rules
from .findings import ERROR, TARGETS, Finding


class KernelAssessment:
    def __init__(self, kernel: Kernel, decisive: bool):
        self.kernel = kernel
        self.decisive = decisive  # the kernel the image will boot (or every kernel, if unknown)
        self.targets: Dict[str, drivers.KernelTarget] = {}
        self.findings: List[Finding] = []


class Assessment:
    def __init__(self, facts: Facts, targets: List[str]):
        self.facts = facts
        self.targets = targets
        self.kernels: List[KernelAssessment] = []
        self.findings: List[Finding] = []

    def blocking(self, target: str) -> List[Finding]:
        return [f for f in self.findings if f.blocking and target in f.targets]

    def ready(self, target: str) -> bool:
        return not self.blocking(target)

    @property
    def all_ready(self) -> bool:
        return all(self.ready(t) for t in self.targets)

    def kernel_assessment(self, kver: str) -> Optional[KernelAssessment]:
        return next((k for k in self.kernels if k.kernel.kver == kver), None)


def assess(facts: Facts, targets: List[str]) -> Assessment:
    result = Assessment(facts, targets)
    findings: List[Finding] = []
    findings += system_rules.kernel_inventory_findings(facts)
    findings += system_rules.platform_findings(facts)
    for kernel in facts.kernels:
        decisive = facts.default_kernel is None or facts.default_kernel is kernel
        item = KernelAssessment(kernel, decisive)
        for target in TARGETS:
            outcome = drivers.assess(facts, kernel, target)
            item.targets[target] = outcome
            item.findings += outcome.findings
        item.findings += drivers.module_info_findings(facts, kernel)
        for finding in _dedupe(item.findings):
            if not decisive and finding.severity == ERROR:
                finding.blocking = False
                finding.message += " (not the default boot kernel)"
            findings.append(finding)
        result.kernels.append(item)
    findings += system_rules.suite_findings(facts)
    findings += system_rules.modprobe_findings(facts)
    findings += system_rules.device_findings(facts)
    findings += system_rules.generator_findings(facts)
    findings += system_rules.network_findings(facts)
    findings += system_rules.seal_findings(facts)
    result.findings = [f for f in findings if set(f.targets) & set(targets)]
    return result


def _dedupe(findings: List[Finding]) -> List[Finding]:
    """Merge identical findings raised for both targets (e.g. a missing initramfs)."""
    merged: Dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.code, finding.message, finding.kernel)
        if key in merged:
            for target in finding.targets:
                if target not in merged[key].targets:
                    merged[key].targets.append(target)
        else:
            merged[key] = finding
    return list(merged.values())
