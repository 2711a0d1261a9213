"""Strategy packages register their classes when their modules are imported: import them all."""

import importlib
import pkgutil
from typing import Iterable


def import_all(package: str, path: Iterable[str], skip: Iterable[str] = ("base",)) -> None:
    """Import every module of ``package`` (its ``__path__``) but those named in ``skip``."""
    for module in pkgutil.iter_modules(list(path)):
        if module.name not in skip:
            importlib.import_module(package + "." + module.name)
