"""The report: one dictionary (the JSON output, schema ``schema/report-v1.json``) from which
the text output is rendered with a jinja2 template."""

import os
import re
from typing import TYPE_CHECKING, Dict

from . import __version__, i18n
from .facts import Facts
from .knowledge import find_data_dir, packaged_text
from .rules import Assessment

if TYPE_CHECKING:
    import jinja2

SCHEMA_ID = "imsprep-report/1"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
SEVERITY_LABELS = {"error": i18n.N_("error"), "warning": i18n.N_("warning"), "info": i18n.N_("info")}


def image_properties(assessment: Assessment) -> Dict[str, str]:
    """IMS image properties this guest supports (reference-procedure.md, 'Image properties')."""
    facts = assessment.facts
    distro = facts.distro
    names = facts.knowledge.distros
    props: Dict[str, str] = {}
    if assessment.ready("kvm"):
        props["__support_kvm"] = "true"
    if assessment.ready("xen"):
        props["__support_xen"] = "true"
    props["hw_firmware_type"] = facts.platform.firmware
    props["__os_type"] = "Linux"
    arch = facts.platform.arch
    bits = "32" if arch in ("i686", "i386") else "64"
    props["__os_bit"] = bits
    props["__platform"] = names["platform"].get(distro.id.lower(), "Other")
    props["__os_version"] = os_version_name(distro.id.lower(), distro.version, bits, names["os_version_names"])
    props["__is_config_init"] = "true" if facts.cloud_init else "false"
    kernel = facts.default_kernel or (facts.kernels[0] if facts.kernels else None)
    multiqueue = False
    if kernel is not None and assessment.ready("kvm"):
        numbers = [int(x) for x in re.findall(r"\d+", kernel.kver)[:3]] + [0, 0, 0]
        multiqueue = numbers[:3] >= [2, 6, 35]
    props["hw_vif_multiqueue_enabled"] = "true" if multiqueue else "false"
    return props


def os_version_name(distro_id: str, version: str, bits: str, names: Dict[str, str]) -> str:
    """``CentOS 7.6 64bit``, ``Ubuntu 18.04 server 64bit``; ``Other Linux (64 bit)`` otherwise."""
    name = names.get(distro_id)
    if not name or not version:
        return "Other Linux (%s bit)" % bits
    if distro_id == "ubuntu":
        return "Ubuntu %s server %sbit" % (version, bits)
    return "%s %s %sbit" % (name, version, bits)


def build(assessment: Assessment) -> Dict[str, object]:
    facts: Facts = assessment.facts
    findings = sorted(assessment.findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.kernel or "", f.file or ""))
    kernels = []
    for item in assessment.kernels:
        kernel = item.kernel
        initramfs = facts.initramfs.get(kernel.kver)
        kernels.append({
            **kernel.to_dict(),
            "default": facts.default_kernel is kernel,
            "decisive": item.decisive,
            "initramfs": initramfs.to_dict() if initramfs else None,
            "targets": {t: item.targets[t].to_dict() for t in assessment.targets},
        })
    verdict = {}
    for target in assessment.targets:
        blocking = assessment.blocking(target)
        verdict[target] = {
            "ready": not blocking,
            "label": facts.knowledge.target_label(target),
            "reasons": [f.message for f in blocking],
            "codes": sorted({f.code for f in blocking}),
        }
    default = facts.default_kernel
    return {
        "schema": SCHEMA_ID,
        "imsprep_version": __version__,
        "root": facts.system.label or facts.system.root,
        "live": facts.system.live,
        "targets": assessment.targets,
        "ready": assessment.all_ready,
        "exit_code": 0 if assessment.all_ready else 1,
        "verdict": verdict,
        "distro": facts.distro.to_dict(),
        "generator": facts.generator.to_dict(),
        "platform": facts.platform.to_dict(),
        "boot": facts.boot.to_dict(),
        "running_kernel": facts.running,
        "default_kernel": default.kver if default else None,
        "kernels": kernels,
        "pv_suites": [s.to_dict() for s in facts.suites],
        "packages_source": facts.packages.source,
        "packages_error": facts.packages.error,
        "modprobe_rules": [r.to_dict() for r in facts.modprobe_rules],
        "device_refs": [r.to_dict() for r in facts.device_refs],
        "network": [n.to_dict() for n in facts.network],
        "findings": [f.to_dict() for f in findings],
        "image_properties": image_properties(assessment),
    }


def _environment() -> "jinja2.Environment":
    import jinja2  # only for text output: JSON runs do not pay for it

    directory = find_data_dir("templates")
    loader: jinja2.BaseLoader
    if os.path.isdir(directory):
        loader = jinja2.FileSystemLoader(directory)
    else:  # inside the zipapp
        loader = jinja2.FunctionLoader(lambda name: packaged_text("templates", name))
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # text output is in the reader's language (imsprep.i18n); JSON output never is
    env.install_gettext_translations(i18n.translation(), newstyle=True)  # type: ignore[attr-defined]
    env.filters["tr"] = i18n.translate_message
    env.filters["pad"] = pad
    env.globals["severity_label"] = lambda severity: i18n._(SEVERITY_LABELS.get(severity) or severity)
    return env


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (a CJK character takes two)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)
    return text + " " * max(width - used, 0)


def render_text(report: Dict[str, object], color: bool = False) -> str:
    colors = {"red": "\033[31m", "green": "\033[32m", "yellow": "\033[33m", "bold": "\033[1m", "reset": "\033[0m"}

    def paint(text: str, name: str) -> str:
        return "%s%s%s" % (colors[name], text, colors["reset"]) if color else text

    env = _environment()
    env.filters["paint"] = paint
    return env.get_template("report.txt.j2").render(r=report)


def render_template(name: str, **context: object) -> str:
    return _environment().get_template(name).render(**context)
