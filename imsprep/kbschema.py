"""The shape of every knowledge-base file (checks/*.json), checked when it is loaded: an unknown or
misspelled key, a missing key or a value of the wrong type is a one-line UserError (exit 2) naming
the file and the key, never a silently ignored setting. Standard library only (guests have no
jsonschema).

The schema language, small on purpose:
- ``Obj({...}, optional=[...])``: an object with exactly these keys (``_``-prefixed keys are comments
  and allowed anywhere); ``optional`` ones may be missing;
- ``Map(spec)``: an object with free keys (distro IDs, generator names), each value ``spec``;
- ``[spec]``: a list of ``spec``; ``str``, ``int``, ``bool``: a value of that type."""

from typing import Any, Dict, List, Optional

from .errors import UserError


class Obj:
    def __init__(self, keys: Dict[str, Any], optional: Optional[List[str]] = None):
        self.keys = keys
        self.optional = set(optional or [])


class Map:
    def __init__(self, values: Any):
        self.values = values


STRS = [str]

GENERATORS = Obj({"generators": Map(Obj({
    "label": str, "executables": STRS, "config_files": STRS, "config_dirs": STRS, "lister": str, "image_names": STRS}))})

DRIVERS = Obj({
    "targets": Map(Obj({"label": str, "drivers": [Obj(
        {"name": str, "role": str, "symbols": STRS, "boot_critical": bool, "legacy": STRS},
        optional=["boot_critical", "legacy"])]})),
    "xen_pv_only_symbols": STRS})

DISTROS = Obj({
    "families": Map(STRS), "generator_preference": Map(STRS), "platform": Map(str), "os_version_names": Map(str)})

PV_SUITES = Obj({"suites": [Obj(
    {"id": str, "name": str, "why": str, "packages": STRS, "files": STRS, "services": STRS, "processes": STRS,
     "modules": STRS, "blocks": STRS, "config_markers": STRS, "marked_files": STRS,
     "uninstall": Obj({"scripts": STRS, "package_order": STRS}, optional=["scripts", "package_order"])},
    optional=["packages", "files", "services", "processes", "modules", "blocks", "config_markers", "marked_files",
              "uninstall"])]})

SEAL = Obj({
    "history_files": STRS, "max_users": int, "skip_homes": STRS, "authorized_keys_files": STRS,
    "logfiles": Obj({"dir": str, "max_files": int, "journal_dir": str, "rotated_patterns": STRS, "keep": STRS,
                     "skip_dirs": STRS, "binary_records": STRS}),
    "utmp": Obj({"common": STRS, "remove": STRS}),
    "machine_id": Obj({"empty": STRS, "remove_if_file": STRS}),
    "ssh_hostkeys": Obj({"patterns": STRS, "keygen_units": STRS, "keygen_unit_dirs": STRS, "sshd_units": STRS,
                         "keygen_markers": STRS, "debian_package_units": STRS}),
    "dhcp_leases": Map(STRS),
    "udev_persistent_net": Obj({"rules": STRS, "initramfs_members": STRS, "initramfs_images": STRS}),
    "nm_connections": STRS,
    "hostname": Obj({"file": str, "placeholder": str}),
    "package_cache": Obj({"debian": STRS, "rhel": STRS, "suse": STRS, "keep_names": STRS}),
    "tmp_dirs": STRS, "tmp_live_skip": STRS, "crash_dirs": STRS, "random_seed": STRS,
    "cloud_init": Obj({"dir": str, "keep": STRS, "logs": STRS, "clean_d": str, "markers": STRS}),
    "imsprep_state": Obj({"trees": STRS, "files": STRS, "log_dir": str, "log_dir_keep": STRS, "lock": str})})

SCHEMAS = {"generators.json": GENERATORS, "drivers.json": DRIVERS, "distros.json": DISTROS,
           "pv_suites.json": PV_SUITES, "seal.json": SEAL}

_TYPE_NAMES = {str: "a string", int: "a number", bool: "true or false"}


def problems(value: Any, spec: Any, where: str = "") -> List[str]:
    """Every way ``value`` departs from ``spec``, as ``where: what`` lines."""
    at = where or "(top level)"
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            return ["%s: must be an object" % at]
        found: List[str] = []
        for key in value:
            if key.startswith("_"):
                continue
            if key not in spec.keys:
                found.append("%s: unknown key %r (known: %s)" % (at, key, ", ".join(sorted(spec.keys))))
            else:
                found += problems(value[key], spec.keys[key], "%s.%s" % (where, key) if where else key)
        for key in sorted(spec.keys):
            if key not in value and key not in spec.optional:
                found.append("%s: missing key %r" % (at, key))
        return found
    if isinstance(spec, Map):
        if not isinstance(value, dict):
            return ["%s: must be an object" % at]
        found = []
        for key, item in value.items():
            if not key.startswith("_"):
                found += problems(item, spec.values, "%s.%s" % (where, key) if where else key)
        return found
    if isinstance(spec, list):
        if not isinstance(value, list):
            return ["%s: must be a list" % at]
        found = []
        for index, item in enumerate(value):
            found += problems(item, spec[0], "%s[%d]" % (where, index))
        return found
    if spec is int and isinstance(value, bool) or not isinstance(value, spec):
        return ["%s: must be %s" % (at, _TYPE_NAMES.get(spec, spec.__name__))]
    return []


def validate(name: str, data: Any, path: str) -> None:
    """Raise a one-line UserError for the first problem of knowledge-base file ``name``."""
    spec = SCHEMAS.get(name)
    if spec is None:
        return
    found = problems(data, spec)
    if found:
        more = " (and %d more)" % (len(found) - 1) if len(found) > 1 else ""
        raise UserError("knowledge base %s: %s%s" % (path, found[0], more))
