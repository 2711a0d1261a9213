"""dpkg (Debian family)."""

import itertools
import re
from typing import Dict, List, Optional

from ..system import System
from .base import PackageManager, Packages, register

STATUS = "/var/lib/dpkg/status"
INFO = "/var/lib/dpkg/info"
STATUS_MAX = 256 << 20  # read streamed; the biggest real ones are tens of MB
MAX_PACKAGES = 200000


@register
class Dpkg(PackageManager):
    name = "dpkg"
    family = "debian"
    priority = 10
    remove_tool = "dpkg --purge"

    def present(self, system: System) -> bool:
        return system.is_file(STATUS)

    def read_installed(self, system: System) -> Packages:
        packages = Packages()
        packages.source = STATUS
        # streamed, stanza by stanza: a big system's status file is larger than max_read_bytes
        fields: Dict[str, str] = {}
        for line in itertools.chain(system.iter_lines(STATUS, STATUS_MAX), ["\n"]):
            if not line.strip():
                if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
                    packages.versions[fields["Package"]] = fields.get("Version", "")
                    if fields.get("Architecture"):
                        packages.arch[fields["Package"]] = fields["Architecture"]
                    if len(packages.versions) >= MAX_PACKAGES:
                        packages.error = "more than %d installed packages: the rest was not read" % MAX_PACKAGES
                        break
                fields = {}
                continue
            match = re.match(r"^([A-Za-z-]+): ?(.*)$", line.rstrip("\n"))
            if match and match.group(1) in ("Package", "Status", "Version", "Architecture"):
                fields[match.group(1)] = match.group(2)
        return packages

    def is_installed(self, system: System, name: str) -> bool:
        return name in self.read_installed(system).versions

    def info_file(self, system: System, name: str, packages: Packages, suffix: str) -> Optional[str]:
        """``/var/lib/dpkg/info/NAME.SUFFIX``, or ``NAME:ARCH.SUFFIX`` (Multi-Arch: same packages),
        ARCH the package's own architecture from the status file."""
        if not re.match(r"^[a-z0-9][a-z0-9.+-]*$", name):
            return None  # not a Debian package name (a hostile status file): no path is built from it
        candidates = ["%s/%s.%s" % (INFO, name, suffix)]
        arch = packages.arch.get(name)
        if arch and re.match(r"^[a-z0-9-]+$", arch):
            candidates.append("%s/%s:%s.%s" % (INFO, name, arch, suffix))
        for path in candidates:
            if system.is_file(path):
                return path
        return None

    def conffiles(self, system: System, name: str, packages: Packages) -> List[str]:
        path = self.info_file(system, name, packages, "conffiles")
        text = (system.read_text(path) if path else None) or ""
        return [line.strip() for line in text.splitlines() if line.strip().startswith("/")]

    def remove_argv(self, names: List[str]) -> List[str]:
        return ["dpkg", "--purge"] + names

    def save_package(self, system: System, name: str, version: str, target: str) -> Optional[str]:
        """From the package cache, else downloaded in the guest."""
        cached = system.glob("/var/cache/apt/archives/%s_%s_*.deb" % (name, version.replace(":", "%3a")))
        if cached:
            dest = "%s/%s" % (target, cached[0].rsplit("/", 1)[-1])
            system.copy_file(cached[0], dest)
            return dest
        result = system.run(["sh", "-c", 'cd "$1" && apt-get download -q "$2=$3"', "sh", target, name, version], timeout=300)
        found = system.glob("%s/%s_*.deb" % (target, name))
        return found[0] if result.ok and found else None

    def reinstall_argv(self, files: List[str]) -> List[str]:
        return ["dpkg", "-i"] + files
