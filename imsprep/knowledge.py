"""The knowledge base: JSON files under ``checks/`` (drivers, PV suites, per-distro rules).

The data ships inside the package (``imsprep/kb`` in a wheel, mapped from ``checks/`` in the
source tree) and in ``/usr/share/imsprep/checks`` for distro packages; ``IMSPREP_DATA_DIR``
overrides both (tests, development). Inside the zipapp (imsprep.pyz) there is no directory:
the files are read from the archive with pkgutil.get_data."""

import json
import os
import pkgutil
from typing import Any, Dict, List, Optional

from .errors import UserError
from .kbschema import validate

_HERE = os.path.dirname(os.path.abspath(__file__))


def data_dirs(kind: str) -> List[str]:
    """Where to look for ``kind`` (``checks`` or ``templates``), most specific first."""
    dirs = []
    override = os.environ.get("IMSPREP_DATA_DIR")
    if override:
        dirs.append(os.path.join(override, kind))
    packaged = {"checks": "kb", "templates": "templates"}[kind]
    dirs.append(os.path.join(_HERE, packaged))
    dirs.append(os.path.join(os.path.dirname(_HERE), kind))  # source checkout
    dirs.append(os.path.join("/usr/share/imsprep", kind))
    return dirs


def find_data_dir(kind: str) -> str:
    for directory in data_dirs(kind):
        if os.path.isdir(directory) and any(n.endswith((".json", ".j2")) for n in os.listdir(directory)):
            return directory
    if in_zipapp():
        return os.path.join(_HERE, {"checks": "kb", "templates": "templates"}[kind])
    raise UserError("imsprep's %s data was not found (looked in %s); reinstall imsprep" % (kind, ", ".join(data_dirs(kind))))


def in_zipapp() -> bool:
    return hasattr(globals().get("__loader__"), "archive")  # a zipimport.zipimporter


def packaged_text(kind: str, name: str) -> Optional[str]:
    """A data file from inside the zipapp, or None."""
    try:
        data = pkgutil.get_data(__name__.rpartition(".")[0], "%s/%s" % ({"checks": "kb", "templates": "templates"}[kind], name))
    except OSError:
        return None
    return data.decode("utf-8") if data is not None else None


def load_checked(directory: str, name: str) -> Dict[str, Any]:
    """Knowledge-base file ``name``, validated against its schema (imsprep/kbschema.py)."""
    path = os.path.join(directory, name)
    try:
        if not os.path.isdir(directory) and in_zipapp():
            data = json.loads(packaged_text("checks", name) or "")
        else:
            with open(path) as fh:
                data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UserError("cannot read knowledge base file %s: %s" % (path, exc)) from None
    validate(name, data, path)
    return data


class Knowledge:
    def __init__(self, directory: Optional[str] = None):
        self.directory = directory or find_data_dir("checks")
        self.drivers = self._load("drivers.json")
        self.pv_suites: List[Dict[str, Any]] = self._load("pv_suites.json")["suites"]
        self.distros = self._load("distros.json")
        self.generators = self._load("generators.json")["generators"]
        self._check_names()

    def _load(self, name: str) -> Dict[str, Any]:
        return load_checked(self.directory, name)

    def _check_names(self) -> None:
        """Every generator of the knowledge base has its strategy (imsprep/generators/), and the
        preferences name only known generators."""
        from . import generators

        where = os.path.join(self.directory, "generators.json")
        for name in self.generators:
            if name not in generators.names():
                raise UserError("knowledge base %s: generators.%s: no such generator strategy (known: %s)"
                                % (where, name, ", ".join(generators.names())))
        for family, names in self.distros["generator_preference"].items():
            for name in names:
                if name not in self.generators:
                    raise UserError("knowledge base %s: generator_preference.%s: unknown generator %r"
                                    % (os.path.join(self.directory, "distros.json"), family, name))

    def add_extra_drivers(self, names: List[str]) -> None:
        """Modules from imsprep.conf that every initramfs must hold too, for every target."""
        for target in self.drivers["targets"].values():
            known = {d["name"] for d in target["drivers"]}
            for name in names:
                if name not in known:
                    target["drivers"].append({"name": name, "symbols": [], "role": "extra driver (imsprep.conf)"})

    def target_drivers(self, target: str) -> List[Dict[str, Any]]:
        return self.drivers["targets"][target]["drivers"]

    def target_label(self, target: str) -> str:
        return self.drivers["targets"][target]["label"]
