"""Package managers as strategies: one module per package database in this package, each a subclass
of :class:`~imsprep.pkgmgr.base.PackageManager` registered under its name (the ``package_db`` of
the distro facts and of the fix journal). Facts and fix ask the registry; none branches on a name.

Adding a package manager: a module here (its class registered with ``@register``) and a fixture
test (see README, "Adding a generator / package manager")."""

from typing import List, Optional

from ..plugins import import_all
from ..system import System
from .base import REGISTRY, PackageManager, Packages, register

__all__ = ["PackageManager", "Packages", "register", "lookup", "detect", "names"]


import_all(__name__, __path__)


def names() -> List[str]:
    return sorted(REGISTRY)


def lookup(name: Optional[str]) -> Optional[PackageManager]:
    """The strategy of package database ``name`` (None for None or an unknown name)."""
    cls = REGISTRY.get(name or "")
    return cls() if cls is not None else None


def detect(system: System) -> Optional[str]:
    """The package database the guest has (the first found, by each manager's ``priority``)."""
    for cls in sorted(REGISTRY.values(), key=lambda c: c.priority):
        if cls().present(system):
            return cls.name
    return None
