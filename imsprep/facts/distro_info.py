"""Which distribution the guest is, read from the guest's own files with the ``distro`` library.

Every release fact comes from the guest: its os-release, ``*-release`` and ``debian_version``
files are read through `System` (bounded, never a FIFO or device, undecodable bytes replaced) and
``distro`` parses copies of that text in a private temporary directory. It never sees lsb_release,
uname or the host's ``/etc`` (``distro`` reads ``/etc/debian_version`` of the machine it runs on
for ``version(best=True)``: the host's point release on a guest). Works with old versions of the
library that lack ``root_dir`` (Debian bullseye ships 1.5)."""

import inspect
import os
import re
import shutil
import tempfile
from typing import Any, Dict, List, Optional

import distro

from .. import pkgmgr
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


class _GuestDistribution(distro.LinuxDistribution):
    """``distro`` with the guest's debian_version instead of the host's."""

    guest_debian_version = ""

    @property
    def _debian_version(self) -> str:
        return self.guest_debian_version


def _linux_distribution(os_release: str, release_file: str, debian_version: str) -> "distro.LinuxDistribution":
    params = inspect.signature(distro.LinuxDistribution.__init__).parameters
    kwargs: Dict[str, Any] = {"include_lsb": False, "os_release_file": os_release, "distro_release_file": release_file}
    for optional in ("include_uname", "include_oslevel"):
        if optional in params:
            kwargs[optional] = False
    dist = _GuestDistribution(**kwargs)
    dist.guest_debian_version = debian_version
    return dist


def _best_version(dist: "distro.LinuxDistribution", debian_version: str) -> str:
    """``distro``'s version(best=True) (the most precise candidate), the guest's debian_version
    among the candidates on Debian-like guests whatever the library's version."""
    version = dist.version(best=True) or ""
    if debian_version and (dist.id() == "debian" or "debian" in (dist.like() or "").split()):
        if re.match(r"^[\d.]+$", debian_version) and debian_version.count(".") > version.count("."):
            version = debian_version
    return version


def detect_package_db(system: System) -> Optional[str]:
    return pkgmgr.detect(system)


def _guest_copy(system: System, path: Optional[str], directory: str, name: str, ascii_only: bool) -> str:
    """A host copy of the guest file's text (bounded, decoded with replacement) for ``distro``."""
    target = os.path.join(directory, name)
    if path is None:
        return target + ".absent"
    text = system.read_text(path)
    if text is None:
        return target + ".absent"
    if ascii_only:
        text = text.encode("ascii", "replace").decode("ascii")
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return target


def read_distro(system: System, knowledge: Knowledge) -> DistroInfo:
    info = DistroInfo()
    os_release = next((p for p in OS_RELEASE if system.is_file(p)), None)
    release = next((p for p in RELEASE_FILES if system.is_file(p)), None)
    debian_version = ((system.read_text("/etc/debian_version") or "").strip().splitlines() or [""])[0].strip()
    directory = tempfile.mkdtemp(prefix="imsprep-distro-")
    try:
        for ascii_only in (False, True):
            try:
                # the release file's name tells distro the id (centos-release -> centos)
                dist = _linux_distribution(_guest_copy(system, os_release, directory, "os-release", ascii_only),
                                           _guest_copy(system, release, directory, os.path.basename(release or "none"),
                                                       ascii_only), debian_version)
                info.id = (dist.id() or "unknown").lower()
                info.name = dist.name() or info.id
                info.version = _best_version(dist, debian_version)
                info.like = [x.lower() for x in (dist.like() or "").split()]
                info.pretty = dist.name(pretty=True) or info.name
                info.platform_id = dist.os_release_attr("platform_id") or None
                break
            except (UnicodeError, ValueError):
                # an old distro under a C locale reads ASCII only; a broken quote in os-release
                if ascii_only:
                    info.id = "unknown"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    info.source = os_release or release
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
        manager = pkgmgr.lookup(info.package_db)
        return manager.family if manager is not None else "unknown"
    for candidate in [info.id] + info.like:
        for family, ids in families.items():
            if candidate in ids:
                return family
    manager = pkgmgr.lookup(info.package_db)
    return manager.family if manager is not None else "unknown"
