"""Commands inside a guest tree get /proc, a read-only /sys and a private, tiny /dev — in a mount
namespace of their own (`unshare --mount --propagation private`), so the mounts exist only for
that command and vanish with it, even when imsprep is killed with SIGKILL. Nothing is ever
mounted into the guest tree as the rest of the machine sees it, and the host's /dev is never
bound into a tree that may later be deleted."""

import contextlib
from typing import Iterator, List

from ..errors import UserError
from ..system import System

# runs as: sh -c SCRIPT imsprep-chroot ROOT ARGV...
SETUP_SCRIPT = """r=$1; shift
for d in proc sys dev; do [ -d "$r/$d" ] || { echo "imsprep: $r/$d is missing in the guest" >&2; exit 125; }; done
mount -t proc proc "$r/proc" && mount -t sysfs -o ro sysfs "$r/sys" && mount -t tmpfs -o size=1m,mode=755 imsprep-dev "$r/dev" || exit 125
mknod -m 666 "$r/dev/null" c 1 3; mknod -m 666 "$r/dev/zero" c 1 5; mknod -m 666 "$r/dev/full" c 1 7
mknod -m 666 "$r/dev/random" c 1 8; mknod -m 666 "$r/dev/urandom" c 1 9; mknod -m 666 "$r/dev/tty" c 5 0
mknod -m 600 "$r/dev/console" c 5 1; ln -s /proc/self/fd "$r/dev/fd"
exec chroot "$r" "$@"
"""


def isolated_argv(root: str, argv: List[str]) -> List[str]:
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", SETUP_SCRIPT, "imsprep-chroot", root] + list(argv)


@contextlib.contextmanager
def guest_mounts(system: System) -> Iterator[None]:
    """Within this block, commands run in the guest get the isolated environment above."""
    if system.live:
        yield
        return
    for path in ("/proc", "/sys", "/dev"):
        if not system.is_dir(path):
            system.makedirs(path)
    probe = system.run(["unshare", "--mount", "--propagation", "private", "--", "true"], in_guest=False, timeout=30)
    if not probe.ok:
        raise UserError("cannot create a private mount namespace for commands in the guest (%s); run as root"
                        % (probe.stderr.strip() or "exit %d" % probe.rc))
    previous = system.isolate
    system.isolate = isolated_argv
    try:
        yield
    finally:
        system.isolate = previous
