"""SIGTERM and SIGHUP are handled like SIGINT: the Python code unwinds (every ``finally`` runs, so
a half-built image is removed and the journal is closed), every command imsprep started is killed
with its whole process tree, the fix's journal gets an ``interrupted`` entry, and the message
says that ``imsprep rollback`` undoes what was done.

How the tree dies: every command runs in a session of its own, so its process group is killed
as one; under ``--root`` the command is bubblewrap, whose PID namespace takes every process a
hook forked with it; imsprep is also a child subreaper, so a live command's daemonised
grandchildren are re-parented to it and killed too, never left to init."""

import ctypes
import ctypes.util
import os
import signal
import sys
from typing import Any, List, Optional

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_CHILD_SUBREAPER = 36
EXIT_INTERRUPTED = 2


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when one of HANDLED arrives."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return "signal %d" % self.signum


_received: List[int] = []


def _handler(signum: int, frame: Any) -> None:
    if _received:
        return  # already unwinding: a second signal must not cut the cleanup short
    _received.append(signum)
    raise Interrupted(signum)


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP in the main thread; make this process a subreaper."""
    for signum in HANDLED:
        try:
            if signum != signal.SIGINT and signal.getsignal(signum) == signal.SIG_IGN:
                continue  # nohup: the caller asked us to survive a hangup
            signal.signal(signum, _handler)
        except (ValueError, OSError):  # not the main thread
            return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def kill_tree(pid: int) -> None:
    """SIGKILL the command ``pid`` (a session leader started by System.run), its process group
    and every descendant, and wait (a few seconds at most) until they are gone. The group is
    killed even when the leader has already been reaped (a timeout): a process group id is not
    reused while any member lives."""
    import psutil

    procs = []
    try:
        leader = psutil.Process(pid)
        if leader.ppid() == os.getpid():
            procs = [leader] + leader.children(recursive=True)
    except psutil.Error:
        pass
    try:
        procs += [p for p in psutil.process_iter() if _pgid(p.pid) == pid and p not in procs]
    except psutil.Error:
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


def kill_children() -> None:
    """Kill every process still below this one (orphans re-parented to us included)."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for proc in children:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=5)


def _note_in_journal(root: str, name: str) -> Optional[str]:
    """Append ``interrupted`` to this process's fix run, if it opened one; its directory."""
    from .fix.journal import Journal
    from .system import System

    try:
        system = System(root)
        journal = Journal.last(system)
        if journal is None or not journal.run_id.endswith("-%d" % os.getpid()):
            return None
        journal.append({"op": "interrupted", "signal": name})
        journal.log("interrupted by %s" % name)
        return journal.directory
    except Exception:  # noqa: BLE001 - reporting the interrupt matters more than this note
        return None


def interrupted(exc: BaseException, args: Any) -> int:
    """Finish an interrupt caught in main(): kill what is left, note it, say what to do."""
    name = exc.name if isinstance(exc, Interrupted) else "SIGINT"
    for signum in HANDLED:  # from here on, nothing may cut this short
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    kill_children()
    command = getattr(args, "command", None)
    root = getattr(args, "root", "/") or "/"
    message = "imsprep: interrupted by %s; every command it had started was stopped" % name
    if command == "fix" and not getattr(args, "dry_run", False):
        run = _note_in_journal(root, name)
        if run:
            message += ". The changes made so far are journaled in %s; `imsprep rollback%s` undoes them" % (
                run, "" if root == "/" else " --root " + root)
        else:
            message += "; nothing was changed"
    elif command == "rollback":
        message += "; run `imsprep rollback%s` again to finish the rollback" % ("" if root == "/" else " --root " + root)
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return EXIT_INTERRUPTED
