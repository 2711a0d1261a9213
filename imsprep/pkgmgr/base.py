"""The PackageManager strategy and its registry."""

import fnmatch
from typing import Dict, List, Optional, Type

from ..system import System

REGISTRY: Dict[str, Type["PackageManager"]] = {}


def register(cls: Type["PackageManager"]) -> Type["PackageManager"]:
    REGISTRY[cls.name] = cls
    return cls


class Packages:
    """Installed packages by name -> version (and architecture where the database says)."""

    def __init__(self):
        self.versions: Dict[str, str] = {}
        self.arch: Dict[str, str] = {}
        self.source: Optional[str] = None
        self.error: Optional[str] = None

    def match(self, pattern: str) -> List[str]:
        return sorted(n for n in self.versions if fnmatch.fnmatchcase(n, pattern))


class PackageManager:
    name = ""  # the package_db name (distro facts, fix journal)
    family = ""  # the distro family a guest with this database and an unknown ID is taken for
    priority = 50  # detection order (lower first)
    remove_tool = ""  # how the plan names the removal, e.g. "dpkg --purge"

    def present(self, system: System) -> bool:
        raise NotImplementedError

    def read_installed(self, system: System) -> Packages:
        raise NotImplementedError

    def is_installed(self, system: System, name: str) -> bool:
        raise NotImplementedError

    def conffiles(self, system: System, name: str, packages: Packages) -> List[str]:
        """Configuration files of package ``name`` that a removal would delete (kept by fix)."""
        return []

    def remove_argv(self, names: List[str]) -> List[str]:
        raise NotImplementedError

    def save_package(self, system: System, name: str, version: str, target: str) -> Optional[str]:
        """Keep the package file of ``name`` ``version`` in directory ``target`` for rollback."""
        return None

    def reinstall_argv(self, files: List[str]) -> List[str]:
        raise NotImplementedError
