"""The InitramfsGenerator strategy and its registry. A strategy holds its knowledge-base entry
only (never a System): rules call the pure methods (remedy texts, traps), facts call
``installed``/``read_config`` with the System they are given, fix calls the drop-in and rebuild
methods."""

import re
import shlex
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type

from ..system import System

REGISTRY: Dict[str, Type["InitramfsGenerator"]] = {}

_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(\+?=)(.*)$")


def register(cls: Type["InitramfsGenerator"]) -> Type["InitramfsGenerator"]:
    """Class decorator: the generator is known under ``cls.name`` (its checks/generators.json key)."""
    REGISTRY[cls.name] = cls
    return cls


def parse_shell_assignments(text: str) -> List[tuple]:
    """``(key, op, value)`` for each simple shell assignment (dracut.conf, initramfs.conf,
    /etc/sysconfig/kernel). Quotes are removed; ``${VAR}`` references are kept as text."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if not match:
            continue
        key, op, value = match.group(1), match.group(2), match.group(3).strip()
        try:
            parts = shlex.split(value, comments=True)
            value = parts[0] if len(parts) == 1 else " ".join(parts)
        except ValueError:
            value = value.strip("\"'")
        found.append((key, op, value))
    return found


def normalize(name: str) -> str:
    """Module names compare folded (``xen-blkfront`` is ``xen_blkfront``), as in facts.kmod."""
    from ..facts.kmod import normalize as kmod_normalize  # here: facts import this package

    return kmod_normalize(name)


def render(template: str, version: str, modules: List[str]) -> str:
    from ..report import render_template  # fix only (jinja2)

    return render_template(template, version=version, modules=modules)


class GeneratorInfo:
    """What facts know of the guest's generator (plain data)."""

    def __init__(self):
        self.installed: List[str] = []
        self.active: Optional[str] = None
        self.config_files: List[str] = []
        self.settings: Dict[str, str] = {}
        self.forced_modules: List[str] = []  # modules the config always includes
        self.own_forced_modules: List[str] = []  # ... of those, named outside imsprep's own drop-in
        self.hostonly: Optional[bool] = None
        self.modules_policy: Optional[str] = None  # initramfs-tools MODULES=
        self.omitted_modules: List[str] = []

    def to_dict(self) -> Dict[str, object]:
        return {"installed": self.installed, "active": self.active, "config_files": self.config_files,
                "hostonly": self.hostonly, "modules_policy": self.modules_policy,
                "forced_modules": self.forced_modules, "omitted_modules": self.omitted_modules}


class InitramfsGenerator:
    """One initramfs generator. Subclasses set ``name`` and ``dropin`` and override what differs."""

    name = ""  # the key of its entry in checks/generators.json
    dropin = ""  # the file fix writes so every future image keeps the drivers
    dropin_why = ""  # why fix edits it (shown in the plan)
    config_glob = "*"  # which files of the config_dirs are read
    build_programs: Tuple[str, ...] = ()  # what rebuild_argv runs (sandboxed with no capabilities)

    def __init__(self, name: str, spec: Dict[str, Any]):
        self.name = name
        self.label: str = spec["label"]
        self.executables: List[str] = list(spec["executables"])
        self.config_files: List[str] = list(spec["config_files"])
        self.config_dirs: List[str] = list(spec["config_dirs"])  # highest priority first
        self.lister: str = spec["lister"]
        self.image_names: List[str] = list(spec["image_names"])

    # -- facts (given a System) -------------------------------------------------------------
    def installed(self, system: System, family: str) -> bool:
        return any(system.which(exe) for exe in self.executables)

    def assignments(self, system: System, info: GeneratorInfo,
                    paths: Optional[List[str]] = None) -> Iterator[Tuple[str, str, str, str]]:
        """(file, key, operator, value) of every shell assignment in the configuration files (by
        default config_paths), each file that exists noted in ``info.config_files``."""
        for path in self.config_paths(system) if paths is None else paths:
            text = system.read_text(path)
            if text is None:
                continue
            info.config_files.append(path)
            for key, op, value in parse_shell_assignments(text):
                yield path, key, op, value

    def config_paths(self, system: System) -> List[str]:
        """The configuration files in reading order (a later one overrides an earlier one); files
        of the same name in several config_dirs: the one of the higher-priority directory."""
        by_name: Dict[str, str] = {}
        for directory in reversed(self.config_dirs):
            for path in system.glob(directory + "/" + self.config_glob):
                by_name[path.rsplit("/", 1)[-1]] = path
        return [p for p in self.config_files if p != self.dropin] + [by_name[n] for n in sorted(by_name)]

    def read_config(self, system: System, info: GeneratorInfo) -> None:
        raise NotImplementedError

    # -- rules (pure: facts only) ---------------------------------------------------------------
    def persist_remedy(self, modules: List[str]) -> str:
        """What to add where so every image holds ``modules`` (exactly what fix writes)."""
        raise NotImplementedError

    def rebuild_command(self, kver: str, kernel_image: Optional[str], image: str) -> str:
        raise NotImplementedError

    def trap(self, info: GeneratorInfo, family: str, target: str, missing: List[str],
             major: Optional[int] = None) -> Optional[str]:
        """Why a future rebuild (kernel update) may drop ``missing`` drivers, or None."""
        raise NotImplementedError

    def default_image(self, kver: str, family: str) -> str:
        return self.image_names[0].format(kver=kver)

    # -- fix ------------------------------------------------------------------------------------
    def dropin_text(self, old: Optional[str], info: GeneratorInfo, modules: List[str], version: str) -> Optional[str]:
        """The new text of ``dropin`` (its current text ``old``) naming ``modules``; None: no change."""
        raise NotImplementedError

    def rebuild_argv(self, kver: str, kernel_image: Optional[str], modules: List[str], live: bool,
                     confdir: Optional[str]) -> Callable[[str], List[str]]:
        """The command that builds the image into the path it is given (run in the guest)."""
        raise NotImplementedError

    def private_config(self, info: GeneratorInfo, live: bool) -> Optional[Tuple[str, str, bytes]]:
        """For a build under --root that must not use the guest's own setting: (directory for a
        private copy of the configuration, file added to it, its content); None: build as configured."""
        return None

    def build_note(self, info: GeneratorInfo, live: bool) -> Optional[str]:
        return None
