"""What commands need to run inside a guest tree: /proc, a read-only /sys and a private, tiny
/dev (never a bind mount of the host's /dev inside a tree that may later be deleted)."""

import contextlib
from typing import Iterator, List

from ..errors import UserError
from ..system import System

DEVICE_NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
                ("tty", 5, 0), ("console", 5, 1))


def _mounted(system: System) -> List[str]:
    text = System("/").read_text("/proc/mounts")  # the mounts of the machine we run on
    return [line.split()[1] for line in (text or "").splitlines() if len(line.split()) > 1]


@contextlib.contextmanager
def guest_mounts(system: System) -> Iterator[None]:
    if system.live:
        yield
        return
    existing = set(_mounted(system))
    done: List[str] = []
    try:
        for target, argv in (("/proc", ["-t", "proc", "proc"]), ("/sys", ["-t", "sysfs", "-o", "ro", "sysfs"]),
                             ("/dev", ["-t", "tmpfs", "-o", "size=1m,mode=755", "imsprep-dev"])):
            system.makedirs(target)
            host = system.host_path(target)
            if host in existing:
                continue
            result = system.run(["mount"] + argv + [host], in_guest=False, timeout=30)
            if not result.ok:
                raise UserError("cannot mount %s in the guest (%s); run as root" % (target, result.stderr.strip()))
            done.append(host)
            if target == "/dev":
                for name, major, minor in DEVICE_NODES:
                    system.mknod_char("/dev/" + name, major, minor)
        yield
    finally:
        for host in reversed(done):
            if not system.run(["umount", host], in_guest=False, timeout=30).ok:
                system.run(["umount", "-l", host], in_guest=False, timeout=30)
