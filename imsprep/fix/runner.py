"""Apply a plan (after the free-space check), and roll the last run back."""

import os
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

from ..errors import UserError
from ..heartbeat import heartbeat
from ..i18n import translate_message
from ..system import System
from . import undo
from .actions import ActionFailed, Applied, ApplyResult
from .journal import Journal
from .plan import Plan
from .sandbox import guest_sandbox
from .undo import RollbackResult

__all__ = ["RollbackResult", "apply_plan", "check_free_space", "finish_run", "rollback", "start_run", "validate_plan"]

Progress = Callable[[str], None]


QUIET = False  # -q: no progress lines, only the result and errors


def stderr_progress(message: str) -> None:
    """Progress on stderr; a closed terminal or pipe must never stop a half-applied fix."""
    if QUIET:
        return
    try:
        sys.stderr.write(translate_message(message) + "\n")  # in the reader's language (imsprep/messages.py)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def check_free_space(system: System, plan: Plan, backup_dir: str = "/var/lib/imsprep") -> None:
    """Refuse before any change if /boot cannot hold the new images, or the backup area the old
    ones. Images are built one at a time beside the old one, then swapped."""
    rebuilds = plan.rebuilds
    if not rebuilds:
        return
    needed: Dict[str, int] = {}
    boot_need = max(r.size_estimate for r in rebuilds) + sum(max(0, r.size_estimate // 2 - system.size(r.image)) for r in rebuilds)
    needed["/boot"] = boot_need
    backups = sum(system.size(r.image) for r in rebuilds)
    if system.same_filesystem("/boot", backup_dir if system.exists(backup_dir) else "/var"):
        needed["/boot"] += backups
    else:
        needed[backup_dir] = backups
    for path, bytes_needed in needed.items():
        free = system.free_bytes(path)
        if free < bytes_needed:
            raise UserError("not enough space on the filesystem holding %s: %d MiB free, %d MiB needed for %d new initramfs "
                            "image(s) and the backups of the old ones; nothing was changed. Free space there (e.g. remove "
                            "old kernels) and run imsprep fix again" % (path, free >> 20, (bytes_needed >> 20) + 1, len(rebuilds)))


class Outcome:
    def __init__(self):
        self.done: List[str] = []
        self.failed: List[str] = []
        self.fallbacks: List[str] = []  # done, but not the way the plan said first (one line each)
        self.steps: List[Dict[str, Any]] = []  # every step with its time: {"step", "seconds", "ok"}

    def add(self, result: ApplyResult) -> None:
        if isinstance(result, Applied):
            self.done.append(result.message)
            self.fallbacks.append(result.fallback)
        else:
            self.done.append(result)

    def merge(self, other: "Outcome") -> None:
        self.done += other.done
        self.failed += other.failed
        self.fallbacks += other.fallbacks
        self.steps += other.steps

    def to_dict(self) -> Dict[str, object]:
        return {"done": self.done, "failed": self.failed, "fallbacks": self.fallbacks, "steps": self.steps}


def start_run(system: System, progress: Progress = stderr_progress) -> Journal:
    journal = Journal.create(system)
    journal.log("fix started")
    progress("journal: %s" % journal.directory)
    return journal


def finish_run(journal: Journal, outcome: "Outcome") -> None:
    journal.append({"op": "end"})
    journal.log("fix finished: %d done (%d by a fallback), %d failed" % (len(outcome.done), len(outcome.fallbacks), len(outcome.failed)))


def planned_paths(plan: Plan) -> List[str]:
    """Every guest file the plan's actions will write, replace or delete."""
    paths: List[str] = []
    todo = list(plan.actions)
    while todo:
        action = todo.pop(0)
        for attr in ("path", "image", "tmp_path"):
            value = getattr(action, attr, None)
            if isinstance(value, str) and value not in paths:
                paths.append(value)
        todo += list(getattr(action, "prepare", []) or [])
    return paths


def validate_plan(system: System, plan: Plan) -> None:
    """Refuse before any change if a file the plan must write is not a regular file (an initramfs
    path that is a directory, a FIFO as a config file), or if imsprep's state directories hold a
    symbolic link: a fix that cannot finish must not start."""
    from .journal import STATE_PATHS

    system.check_state_paths(STATE_PATHS)
    for path in planned_paths(plan):
        if system.exists(path) and not system.is_file(path):
            try:
                kind = "directory" if system.is_dir(path) else "special file (FIFO, device or socket)"
            except OSError:
                kind = "special file"
            raise UserError("refusing to fix: %s is a %s, not a regular file; nothing was changed. "
                            "Move it away and run imsprep fix again" % (path, kind))
        parent = os.path.dirname(path)
        if system.exists(parent) and not system.is_dir(parent):
            raise UserError("refusing to fix: %s is not a directory; nothing was changed" % parent)


def apply_plan(system: System, plan: Plan, journal: Journal, progress: Progress = stderr_progress) -> Outcome:
    """Apply every action; a failed action is reported and the others still run (one kernel's
    failed rebuild must not lose the others' work). A failed suite removal stops the run: native
    drivers are configured only once the PV suite is gone. After each action the journal records
    what every file it touched looks like (``after``), for rollback's "changed since?" test."""
    outcome = Outcome()
    with guest_sandbox(system, plan.actions):
        for action in plan.actions:
            progress("- " + action.summary())
            first = len(journal.touched)
            started = time.time()
            ok = False
            try:
                with heartbeat(progress, _stage(action)):
                    outcome.add(action.apply(system, journal, progress))
                ok = True
            except ActionFailed as exc:
                message = "%s: FAILED: %s" % (action.summary(), exc)
                outcome.failed.append(message)
                journal.append({"op": "failed", "action": action.summary(), "error": str(exc)})
                journal.log(message)
                progress("  " + message)
                if action.kind == "remove-suite":
                    progress("  stopping: the PV suite must go before native drivers are configured")
                    break
            finally:
                journal.record_after(journal.touched[first:])
                outcome.steps.append({"step": action.summary(), "seconds": round(time.time() - started, 1), "ok": ok})
    return outcome


def _stage(action: object) -> str:
    kernel = getattr(action, "kernel", None)
    kind = getattr(action, "kind", "step")
    if kernel is not None and kind == "rebuild-initramfs":
        return "building the initramfs of %s with %s" % (kernel.kver, getattr(action, "generator", "the generator"))
    return {"remove-suite": "removing %s" % getattr(action, "name", "the PV suite"),
            "regenerate-grub": "regenerating %s" % getattr(action, "path", "grub.cfg"),
            "depmod": "running depmod"}.get(str(kind), str(kind))


def rollback(system: System, journal: Journal, progress: Progress = stderr_progress, force: bool = False,
             dry_run: bool = False) -> RollbackResult:
    """Undo a run in reverse order: restore or delete every file it touched, reinstall removed
    packages from the kept package files, and drop a half-built image left by a crash.

    A file changed since the fix (its content differs from the ``after`` record) is kept and named
    with its diff, unless ``force``. A file that cannot be restored (its backup is missing, a
    directory stands in its way) is named; the others are restored all the same. Each restored file
    is journaled (``restored``), so a later rollback does not redo it; the run counts as rolled back
    only when nothing is left."""
    entries = list(journal.entries())
    handlers = undo.handlers(journal, entries)  # an op this imsprep cannot undo refuses before any change
    rb = undo.Rollback(system, journal, progress, force, dry_run)
    result = rb.result
    for index, entry in enumerate(entries):
        handlers[index].note(rb, index, entry)
    newest_first = list(reversed(list(enumerate(entries))))
    for index, entry in newest_first:
        handlers[index].check(rb, index, entry)
    for stage in undo.STAGES:
        if stage in undo.GUEST_CODE_STAGES:
            if dry_run:
                continue
            with guest_sandbox(system):
                _undo_stage(rb, stage, handlers, newest_first)
        else:
            _undo_stage(rb, stage, handlers, newest_first)
    if dry_run:
        return result
    if result.complete:
        journal.append({"op": "rolled-back"})
    journal.log("rolled back: %s%s" % ("; ".join(result.done) or "nothing",
                                       "; KEPT (changed since): %s" % ", ".join(result.refused) if result.refused else ""))
    for line in result.done[:40]:
        progress("- " + line)
    if len(result.done) > 40:
        progress("- ... and %d more (see %s)" % (len(result.done) - 40, journal.path))
    return result


def _undo_stage(rb: undo.Rollback, stage: int, handlers: List[undo.Undo], entries: List[Tuple[int, Dict[str, Any]]]) -> None:
    for index, entry in entries:
        if handlers[index].stage == stage:
            handlers[index].undo(rb, index, entry)
