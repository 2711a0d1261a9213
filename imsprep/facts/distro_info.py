"""Which distribution the guest is, read from the guest's own files with the ``distro`` library.

``distro`` is pointed at the guest's files explicitly (and never at lsb_release or uname), so it
works with old versions of the library that lack ``root_dir`` (Debian bullseye ships 1.5)."""

import inspect
import re
from typing import Dict, List, Optional

import distro

from ..knowledge import Knowledge
from ..system import System

OS_RELEASE = ["/etc/os-release", "/usr/lib/os-release"]
RELEASE_FILES = ["/etc/euleros-release", "/etc/openEuler-release", "/etc/hce-release", "/etc/kylin-release",
                 "/etc/centos-release", "/etc/rocky-release", "/etc/almalinux-release", "/etc/oracle-release",
                 "/etc/fedora-release", "/etc/redhat-release", "/etc/SuSE-release", "/etc/system-release"]

NAME_IDS = [("centos", "centos"), ("red hat", "rhel"), ("oracle", "ol"), ("scientific", "scientific"),
            ("euleros", "euleros"), ("fedora", "fedora"), ("suse linux enterprise server", "sles"),
            ("suse linux enterprise desktop", "sled"), ("opensuse", "opensuse")]


class DistroInfo:
    def __init__(self):
        self.id = "unknown"
        self.name = "unknown"
        self.version = ""
        self.like: List[str] = []
        self.family = "unknown"
        self.pretty = "unknown"
        self.package_db: Optional[str] = None
        self.suse_patchlevel: Optional[int] = None
        self.source: Optional[str] = None
        self.platform_id: Optional[str] = None

    def major_minor(self) -> List[int]:
        return [int(x) for x in re.findall(r"\d+", self.version)[:2]]

    def to_dict(self) -> Dict[str, object]:
        return {"id": self.id, "name": self.name, "version": self.version, "like": self.like,
                "family": self.family, "pretty_name": self.pretty, "package_db": self.package_db,
                "source": self.source}


def _linux_distribution(os_release: str, release_file: str) -> "distro.LinuxDistribution":
    params = inspect.signature(distro.LinuxDistribution.__init__).parameters
    kwargs = {"include_lsb": False, "os_release_file": os_release, "distro_release_file": release_file}
    for optional in ("include_uname", "include_oslevel"):
        if optional in params:
            kwargs[optional] = False
    return distro.LinuxDistribution(**kwargs)


def detect_package_db(system: System) -> Optional[str]:
    if system.is_file("/var/lib/dpkg/status"):
        return "dpkg"
    if system.is_dir("/var/lib/rpm") or system.is_dir("/usr/lib/sysimage/rpm"):
        return "rpm"
    return None


def read_distro(system: System, knowledge: Knowledge) -> DistroInfo:
    info = DistroInfo()
    missing = system.root.rstrip("/") + "/.imsprep-no-such-file"
    os_release = next((p for p in OS_RELEASE if system.is_file(p)), None)
    release = next((p for p in RELEASE_FILES if system.is_file(p)), None)
    dist = _linux_distribution(system.host_path(os_release) if os_release else missing,
                               system.host_path(release) if release else missing)
    info.source = os_release or release
    info.id = (dist.id() or "unknown").lower()
    info.name = dist.name() or info.id
    info.version = dist.version(best=True) or ""
    info.like = [x.lower() for x in (dist.like() or "").split()]
    info.pretty = dist.name(pretty=True) or info.name
    info.platform_id = dist.os_release_attr("platform_id") or None
    info.package_db = detect_package_db(system)
    if os_release is None and release:
        # no os-release (EL5/6, SLES 11): the id comes from the release file's text, not its name
        text = (system.read_text(release) or "").strip().lower()
        for prefix, distro_id in NAME_IDS:
            if text.startswith(prefix):
                info.id = distro_id
                break
        match = re.search(r"patchlevel\s*=\s*(\d+)", text)
        if match:
            info.suse_patchlevel = int(match.group(1))
    if info.suse_patchlevel is None and info.id in ("sles", "sled"):
        parts = info.major_minor()
        info.suse_patchlevel = parts[1] if len(parts) > 1 else 0
    info.family = classify_family(info, knowledge)
    return info


def classify_family(info: DistroInfo, knowledge: Knowledge) -> str:
    families = knowledge.distros["families"]
    if info.id == "uos" and info.package_db:  # same ID, RPM- and Debian-based editions
        return "debian" if info.package_db == "dpkg" else "rhel"
    for candidate in [info.id] + info.like:
        for family, ids in families.items():
            if candidate in ids:
                return family
    if info.package_db == "dpkg":
        return "debian"
    if info.package_db == "rpm":
        return "rhel"
    return "unknown"
