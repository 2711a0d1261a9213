"""rpm (RHEL and SUSE families)."""

from typing import List, Optional

from ..system import System
from .base import PackageManager, Packages, register

RPM_DBPATHS = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]
RPM_DB_FILES = ["Packages", "Packages.db", "rpmdb.sqlite"]  # Berkeley DB, ndb, sqlite


@register
class Rpm(PackageManager):
    name = "rpm"
    family = "rhel"
    priority = 20
    remove_tool = "rpm -e"

    def present(self, system: System) -> bool:
        return any(system.is_dir(d) for d in RPM_DBPATHS)

    def read_installed(self, system: System) -> Packages:
        packages = Packages()
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

    def is_installed(self, system: System, name: str) -> bool:
        return system.run(["rpm", "-q", name], timeout=60).ok

    def remove_argv(self, names: List[str]) -> List[str]:
        return ["rpm", "-e"] + names

    def save_package(self, system: System, name: str, version: str, target: str) -> Optional[str]:
        cached = system.glob("/var/cache/*/*/*/packages/%s-%s*.rpm" % (name, version)) + \
            system.glob("/var/cache/*/*/packages/%s-%s*.rpm" % (name, version))
        if cached:
            dest = "%s/%s" % (target, cached[0].rsplit("/", 1)[-1])
            system.copy_file(cached[0], dest)
            return dest
        return None

    def reinstall_argv(self, files: List[str]) -> List[str]:
        return ["rpm", "-i", "--replacepkgs"] + files
