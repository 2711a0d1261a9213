"""Applying a seal plan: every change through the System layer, no copies kept, a list of what
was removed written as it happens (in the guest's seal.log, emptied last, or a file outside)."""

import errno
import os
import stat as stat_mod
import time
from typing import IO, Callable, List, Optional

from ..system import System
from . import NOTE, REMOVE, REMOVE_TREE, REPLACE, RUN, TRUNCATE, Item, SealPlan

Progress = Callable[[str], None]


class SealFailed(Exception):
    pass


def truncate(system: System, path: str) -> None:
    """Empty a regular file, never through a symlink. In place (same inode, owner, mode: a running
    service keeps writing to it) unless the inode is shared by hard links, which must not change:
    then a new empty file with the old owner and mode replaces this name only."""
    if system.is_symlink(path):
        raise SealFailed("%s is a symlink; not followed" % path)
    host = system.host_path(path)
    st = os.lstat(host)
    if not stat_mod.S_ISREG(st.st_mode):
        raise SealFailed("%s is not a regular file" % path)
    if st.st_nlink > 1:
        system.write_atomic(path, b"", mode=stat_mod.S_IMODE(st.st_mode))
        try:
            os.chown(host, st.st_uid, st.st_gid, follow_symlinks=False)
        except OSError:
            pass
        return
    fd = os.open(host, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        os.ftruncate(fd, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(system: System, path: str) -> List[str]:
    """Remove a directory tree (a symlink only as a link); returns the files it held."""
    if system.is_symlink(path):
        system.unlink(path)
        return [path]
    files = list(system.walk_files(path))
    system.remove_tree(path)
    if system.exists(path):
        raise SealFailed("%s could not be removed completely" % path)
    return files


class SealLog:
    """One line per removed or emptied path, written as it happens."""

    def __init__(self, system: System, guest_path: Optional[str], host_file: Optional[str]):
        self.system = system
        self.guest_path = guest_path
        self.fh: Optional[IO[str]] = None
        self.lines = 0
        if host_file:
            self.fh = open(host_file, "a")
        elif guest_path:
            system.makedirs(os.path.dirname(guest_path), mode=0o700)
            if system.is_symlink(guest_path):
                system.unlink(guest_path)
            self.fh = open(system.host_path(guest_path), "a")
        if self.fh is not None:
            self.fh.write("# imsprep seal %s (%s)\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                          "live" if system.live else system.root))

    def write(self, op: str, action: str, path: str) -> None:
        if self.fh is not None:
            self.fh.write("%s\t%s\t%s\n" % (op, action, path))
            self.fh.flush()
            self.lines += 1

    def close(self, empty_guest_copy: bool) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        if empty_guest_copy and self.guest_path and self.system.is_file(self.guest_path):
            truncate(self.system, self.guest_path)


class Outcome:
    def __init__(self):
        self.done: List[str] = []
        self.failed: List[str] = []


def apply_item(system: System, op: str, item: Item, log: SealLog) -> str:
    if item.action == RUN:
        if not system.live:
            raise SealFailed("not run: guest commands run only on a live system")
        result = system.run(item.argv, timeout=600)
        if not result.ok:
            raise SealFailed("%s exited %d: %s" % (" ".join(item.argv), result.rc, (result.stderr or result.stdout).strip()[-300:]))
        log.write(op, "ran", " ".join(item.argv))
        return "ran %s" % " ".join(item.argv)
    if item.action == TRUNCATE:
        truncate(system, item.path)
        log.write(op, "emptied", item.path)
        return "emptied %s" % item.path
    if item.action == REMOVE:
        if system.is_dir(item.path) and not system.is_symlink(item.path):
            files = remove_tree(system, item.path)
            for path in files:
                log.write(op, "removed", path)
            return "removed %s" % item.path
        system.unlink(item.path)
        if system.is_symlink(item.path) or system.exists(item.path):
            raise SealFailed("%s is still there" % item.path)
        log.write(op, "removed", item.path)
        return "removed %s" % item.path
    if item.action == REMOVE_TREE:
        files = remove_tree(system, item.path)
        for path in files:
            log.write(op, "removed", path)
        log.write(op, "removed", item.path + "/")
        return "removed %s/ (%d files)" % (item.path, len(files))
    if item.action == REPLACE:
        if system.is_symlink(item.path):
            system.unlink(item.path)
        system.write_atomic(item.path, item.data or b"")
        log.write(op, "replaced", item.path)
        return "replaced %s" % item.path
    raise SealFailed("unknown action %s" % item.action)


def apply_plan(plan: SealPlan, log: SealLog, progress: Progress) -> Outcome:
    """Apply every selected operation's items; one failed item is reported, the others still run.
    The imsprep lock is removed last (the caller holds it)."""
    system = plan.ctx.system
    outcome = Outcome()
    last: List[tuple] = []
    for op_plan in plan.active():
        name = op_plan.operation.name
        for item in op_plan.items:
            if item.action == NOTE:
                continue
            if name == "imsprep-state" and item.path.endswith("/lock"):
                last.append((name, item))
                continue
            try:
                outcome.done.append(apply_item(system, name, item, log))
            except (OSError, SealFailed) as exc:
                if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
                    continue  # already gone (a service rotated it away): nothing to do
                outcome.failed.append("%s: %s: %s" % (name, item.path or " ".join(item.argv), exc))
                progress("  FAILED %s" % outcome.failed[-1])
    for name, item in last:
        try:
            outcome.done.append(apply_item(system, name, item, log))
        except (OSError, SealFailed) as exc:
            outcome.failed.append("%s: %s: %s" % (name, item.path, exc))
    return outcome
