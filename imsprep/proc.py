"""Process names and free disk space, with psutil when it is installed and without it when not.

psutil is compiled, so some targets' base repositories lack it (see packaging/rpm/DEPENDENCIES.md)
and the zipapp cannot carry it. Without it, processes come from /proc/<pid>/comm (what psutil's
``name()`` reads first on Linux) and free space from ``os.statvfs`` (what ``psutil.disk_usage`` calls).
Which way was taken is logged at debug level (``-v``)."""

import logging
import os
from typing import List, Optional, Set

LOG = logging.getLogger(__name__)
_said: Set[str] = set()


def _psutil():  # -> Optional[module]
    try:
        import psutil
    except ImportError as exc:
        if "psutil" not in _said:
            _said.add("psutil")
            LOG.info("psutil not available (%s): reading /proc and statvfs instead", exc)
        return None
    return psutil


def process_names(proc_dir: str = "/proc") -> List[str]:
    """Names of the running processes on this host (the live guest)."""
    psutil = _psutil() if proc_dir == "/proc" else None
    if psutil is not None:
        return [p.info["name"] for p in psutil.process_iter(["name"]) if p.info.get("name")]
    names: List[str] = []
    try:
        entries = os.listdir(proc_dir)
    except OSError:
        return names
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_dir, entry, "comm"), "rb") as fh:
                name = fh.read().decode("utf-8", "replace").strip()
        except OSError:  # the process ended meanwhile, or hidden by hidepid
            continue
        if name:
            names.append(name)
    return names


def disk_free(host_path: str, use_psutil: Optional[bool] = None) -> int:
    """Bytes free for an unprivileged write on the filesystem holding ``host_path``."""
    psutil = _psutil() if use_psutil is not False else None
    if psutil is not None:
        return int(psutil.disk_usage(host_path).free)
    st = os.statvfs(host_path)
    return int(st.f_bavail * st.f_frsize)
