"""``/etc/imsprep/imsprep.conf``: defaults for the command line (flags given override them).

    [imsprep]
    # kvm, xen or all
    targets = all
    # more modules every initramfs must hold, e.g. nvme ena
    extra_drivers =
    # PV suite ids (see checks/pv_suites.json) that fix must leave alone
    ignore_suites =
    # the most imsprep reads of any one guest text file (bytes; K, M, G suffixes); longer files
    # are read up to it and reported
    max_read_bytes = 4M

The file is read from the machine imsprep runs on (``IMSPREP_CONFIG`` names another one)."""

import configparser
import os
from typing import Dict, List

from .errors import UserError

DEFAULT_PATH = "/etc/imsprep/imsprep.conf"
KEYS = {"targets", "extra_drivers", "ignore_suites", "max_read_bytes"}
DEFAULT_MAX_READ_BYTES = 4 << 20


class Config:
    def __init__(self):
        self.targets = "all"
        self.extra_drivers: List[str] = []
        self.ignore_suites: List[str] = []
        self.source: str = ""
        self.max_read_bytes = DEFAULT_MAX_READ_BYTES

    def to_dict(self) -> Dict[str, object]:
        return {"targets": self.targets, "extra_drivers": self.extra_drivers, "ignore_suites": self.ignore_suites,
                "max_read_bytes": self.max_read_bytes, "source": self.source}


def load(path: str = "") -> Config:
    config = Config()
    path = path or os.environ.get("IMSPREP_CONFIG", DEFAULT_PATH)
    if not os.path.isfile(path):
        return config
    parser = configparser.ConfigParser()
    try:
        with open(path) as fh:
            parser.read_file(fh)
    except (OSError, configparser.Error) as exc:
        raise UserError("cannot read %s: %s" % (path, exc)) from None
    config.source = path
    if not parser.has_section("imsprep"):
        return config
    section = parser["imsprep"]
    unknown = set(section) - KEYS
    if unknown:
        raise UserError("%s: unknown setting(s) %s (known: %s)" % (path, ", ".join(sorted(unknown)), ", ".join(sorted(KEYS))))
    targets = section.get("targets", "all").strip().lower()
    if targets not in ("kvm", "xen", "all"):
        raise UserError("%s: targets must be kvm, xen or all, not %r" % (path, targets))
    config.targets = targets
    config.extra_drivers = section.get("extra_drivers", "").replace(",", " ").split()
    config.ignore_suites = section.get("ignore_suites", "").replace(",", " ").split()
    if "max_read_bytes" in section:
        config.max_read_bytes = parse_size(path, section.get("max_read_bytes", ""))
    return config


def parse_size(path: str, value: str) -> int:
    """``4194304``, ``4M``, ``512K``, ``1G`` (binary units); at least 64 KiB."""
    text = value.strip().upper().rstrip("B").rstrip("I")
    factor = 1
    if text[-1:] in ("K", "M", "G"):
        factor = 1 << {"K": 10, "M": 20, "G": 30}[text[-1]]
        text = text[:-1]
    try:
        size = int(text.strip()) * factor
    except ValueError:
        raise UserError("%s: max_read_bytes must be a size such as 4M, not %r" % (path, value)) from None
    if size < (64 << 10):
        raise UserError("%s: max_read_bytes must be at least 64K, not %r" % (path, value))
    return size
