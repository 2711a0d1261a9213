"""Installed PV / vendor guest-driver suites and modprobe rules that block native drivers.

Evidence comes from the package database, files, service units, running processes and loaded
modules; each piece of evidence is kept so the report can say exactly what was found where."""

import fnmatch
import itertools
import logging
import re
from typing import Any, Dict, List, Optional

from ..knowledge import Knowledge
from ..system import System
from .kmod import normalize

LOG = logging.getLogger(__name__)
DPKG_STATUS_MAX = 256 << 20  # read streamed; the biggest real ones are tens of MB
MAX_PACKAGES = 200000

MODPROBE_DIRS = ["/etc/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d", "/run/modprobe.d"]
UNIT_DIRS = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"]


class Packages:
    """Installed packages by name -> version, from dpkg's status file or rpm."""

    def __init__(self):
        self.versions: Dict[str, str] = {}
        self.source: Optional[str] = None
        self.error: Optional[str] = None

    def match(self, pattern: str) -> List[str]:
        return sorted(n for n in self.versions if fnmatch.fnmatchcase(n, pattern))


def read_packages(system: System, package_db: Optional[str]) -> Packages:
    packages = Packages()
    if package_db == "dpkg":
        packages.source = "/var/lib/dpkg/status"
        # streamed, stanza by stanza: a big system's status file is larger than max_read_bytes
        fields: Dict[str, str] = {}
        for line in itertools.chain(system.iter_lines("/var/lib/dpkg/status", DPKG_STATUS_MAX), ["\n"]):
            if not line.strip():
                if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
                    packages.versions[fields["Package"]] = fields.get("Version", "")
                    if len(packages.versions) >= MAX_PACKAGES:
                        packages.error = "more than %d installed packages: the rest was not read" % MAX_PACKAGES
                        break
                fields = {}
                continue
            match = re.match(r"^([A-Za-z-]+): ?(.*)$", line.rstrip("\n"))
            if match and match.group(1) in ("Package", "Status", "Version"):
                fields[match.group(1)] = match.group(2)
    elif package_db == "rpm":
        argv = ["rpm", "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"]
        if system.live:
            result = system.run(argv, in_guest=True)
        elif system.host_which("rpm"):
            # the guest's own database, named: this machine's rpm may look elsewhere (Debian's: ~/.rpmdb), and an
            # rpm that finds no database creates one, in the guest, which `check` must not change
            dbpath = next((d for d in RPM_DBPATHS if any(system.is_file(d + "/" + f) for f in RPM_DB_FILES)), None)
            if dbpath is None:
                packages.error = "no rpm database (%s) in %s" % ("/".join(RPM_DB_FILES), " or ".join(RPM_DBPATHS))
                return packages
            result = system.run(["rpm", "--root", system.root, "--dbpath", dbpath] + argv[1:], in_guest=False)
        else:
            packages.error = "rpm is not installed on this machine; the guest's rpm database was not read"
            return packages
        packages.source = "rpm -qa"
        if not result.ok:
            packages.error = "rpm -qa failed (exit %d): %s" % (result.rc, result.stderr.strip()[:200])
            return packages
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                packages.versions[parts[0]] = parts[1]
    return packages


RPM_DBPATHS = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]
RPM_DB_FILES = ["Packages", "Packages.db", "rpmdb.sqlite"]  # Berkeley DB, ndb, sqlite


class SuiteFinding:
    def __init__(self, suite: Dict[str, Any]):
        self.suite = suite
        self.evidence: List[str] = []
        self.packages: List[str] = []
        self.uninstallers: List[str] = []

    @property
    def id(self) -> str:
        return str(self.suite["id"])

    def to_dict(self) -> Dict[str, object]:
        return {"id": self.id, "name": self.suite["name"], "evidence": self.evidence,
                "packages": self.packages, "uninstallers": self.uninstallers}


def loaded_modules(system: System) -> List[str]:
    if not system.live:
        return []
    text = system.read_text("/proc/modules") or ""
    return [normalize(line.split()[0]) for line in text.splitlines() if line.strip()]


def running_processes(system: System) -> List[str]:
    """Names of running processes (live only); empty, i.e. unknown, when they cannot be listed
    (no /proc mounted, e.g. ``chroot GUEST imsprep check``: psutil fails inside)."""
    if not system.live:
        return []
    try:
        from ..proc import process_names

        return process_names()
    except Exception as exc:  # noqa: BLE001 - any failure: the probe could not run
        LOG.warning("running processes cannot be listed (%s: %s; is /proc mounted?): "
                    "PV tools are judged from files and packages only", type(exc).__name__, exc)
        return []


def find_suites(system: System, knowledge: Knowledge, packages: Packages) -> List[SuiteFinding]:
    modules = set(loaded_modules(system))
    processes = set(running_processes(system))
    findings = []
    for suite in knowledge.pv_suites:
        finding = SuiteFinding(suite)
        for pattern in suite.get("packages", []):
            for name in packages.match(pattern):
                if name not in finding.packages:
                    finding.packages.append(name)
                    finding.evidence.append("package %s %s" % (name, packages.versions[name]))
        for pattern in suite.get("files", []):
            for path in system.glob(pattern):
                finding.evidence.append("file %s" % path)
        for pattern in suite.get("uninstall", {}).get("scripts", []):
            finding.uninstallers += system.glob(pattern)
        seen_units = set()
        for service in suite.get("services", []):
            for directory in UNIT_DIRS:
                unit = "%s/%s.service" % (directory, service)
                if system.exists(unit) and system.realpath(unit) not in seen_units:  # /lib -> /usr/lib
                    seen_units.add(system.realpath(unit))
                    finding.evidence.append("service %s" % unit)
            if system.exists("/etc/init.d/" + service):
                finding.evidence.append("service /etc/init.d/%s" % service)
        for process in suite.get("processes", []):
            if process in processes:
                finding.evidence.append("running process %s" % process)
        for module in suite.get("modules", []):
            if normalize(module) in modules:
                finding.evidence.append("loaded module %s" % module)
        for marker in suite.get("config_markers", []):
            for path in suite.get("marked_files", []):
                text = system.read_text(path)
                if text and marker in text:
                    finding.evidence.append("config block %s in %s" % (marker, path))
        if finding.evidence:
            finding.evidence = sorted(set(finding.evidence), key=finding.evidence.index)
            findings.append(finding)
    return findings


class ModprobeRule:
    def __init__(self, path: str, line: int, kind: str, module: str, text: str):
        self.path = path
        self.line = line
        self.kind = kind  # blacklist | install | alias
        self.module = module
        self.text = text

    def to_dict(self) -> Dict[str, object]:
        return {"file": self.path, "line": self.line, "kind": self.kind, "module": self.module, "text": self.text}


def read_modprobe_rules(system: System) -> List[ModprobeRule]:
    """Rules that can stop a module from loading: ``blacklist X``, ``install X <cmd>`` and
    ``alias X Y`` (X loaded as something else). ``install X ... modprobe --ignore-install X``
    loads X after all and is not returned."""
    files: Dict[str, str] = {}
    for directory in MODPROBE_DIRS:
        if directory.startswith("/run") and not system.live:
            continue
        for path in system.glob(directory + "/*.conf"):
            files.setdefault(path.rsplit("/", 1)[-1], path)
    paths = [files[n] for n in sorted(files)]
    if system.is_file("/etc/modprobe.conf"):
        paths.append("/etc/modprobe.conf")
    rules = []
    for path in paths:
        text = system.read_text(path) or ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            words = line.split()
            if len(words) < 2:
                continue
            kind, module = words[0], normalize(words[1])
            if kind == "blacklist":
                rules.append(ModprobeRule(path, number, kind, module, raw.strip()))
            elif kind == "install":
                loads_itself = "--ignore-install" in words and module in [normalize(w) for w in words[2:]]
                if not loads_itself:
                    rules.append(ModprobeRule(path, number, kind, module, raw.strip()))
            elif kind == "alias" and len(words) >= 3 and normalize(words[2]) != module:
                rules.append(ModprobeRule(path, number, kind, module, raw.strip()))
    return rules
