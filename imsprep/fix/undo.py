"""Rollback, entry by entry: every op a fix step writes in the journal has an undo handler
registered for it (``register``); rollback (fix/runner.py) only walks the journal and dispatches.
The handlers of the ops the actions write live beside them (fix/actions.py); the ``file`` entries
every action writes through ``Journal.backup_file``, and the ops that only record, are here.

A rollback runs in stages, each over the entries newest first:
``note`` (every entry, oldest first, before any change: what earlier rollbacks did, what imsprep
left), ``check`` (before any change: which files changed since the fix), then ``undo`` in the
handler's stage: PACKAGES (guest code, in the sandbox; not in a dry run), FILES, SCRATCH."""

import difflib
from typing import Callable, Dict, List, Optional, Set

from ..errors import UserError
from ..system import System
from .journal import Journal, file_state, same_state

Progress = Callable[[str], None]

PACKAGES = 1  # reinstall removed packages: runs guest code, so in the sandbox, and never in a dry run
FILES = 2  # restore or delete every file the run touched
SCRATCH = 3  # half-built images and scratch directories a crash left
STAGES = (PACKAGES, FILES, SCRATCH)
GUEST_CODE_STAGES = (PACKAGES,)


class RollbackResult:
    def __init__(self):
        self.done: List[str] = []
        self.refused: List[str] = []  # changed since the fix: kept (unless --force)
        self.diffs: List[str] = []
        self.failed: List[str] = []  # could not be restored
        self.given_up: List[str] = []  # could not be restored, and --force said to go on without them

    @property
    def complete(self) -> bool:
        return not self.refused and not self.failed


class Rollback:
    """The state of one rollback, shared by the handlers."""

    def __init__(self, system: System, journal: Journal, progress: Progress, force: bool, dry_run: bool):
        self.system = system
        self.journal = journal
        self.progress = progress
        self.force = force
        self.dry_run = dry_run
        self.result = RollbackResult()
        self.finished: Set[str] = set()  # paths restored by an earlier rollback
        self.reinstalled: Set[int] = set()  # indexes of package removals an earlier rollback undid
        self.firsts: Dict[str, Dict[str, object]] = {}  # path -> its first "file" entry (the state before the run)
        self.afters: Dict[str, Dict[str, object]] = {}  # path -> its last "after" entry (as imsprep left it)
        self.todo: Set[str] = set()  # paths to restore (not changed since, or --force)

    def mark(self, path: str, **extra: object) -> None:
        """Journal that ``path`` is restored, so a later rollback does not redo it."""
        if not self.dry_run:
            entry: Dict[str, object] = {"op": "restored", "path": path}
            entry.update(extra)
            self.journal.append(entry)


class Undo:
    """How to undo one op of the journal. ``stage`` None: the entry only records something."""

    stage: Optional[int] = None

    def note(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        pass

    def check(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        pass

    def undo(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        pass


UNDO: Dict[str, Undo] = {}


def register(op: str, handler: Undo) -> Undo:
    UNDO[op] = handler
    return handler


def handler_for(journal_path: str, number: int, entry: Dict[str, object]) -> Undo:
    """The handler of ``entry`` (line ``number`` of the journal), or a one-line error."""
    op = entry.get("op")
    handler = UNDO.get(op) if isinstance(op, str) else None
    if handler is None:
        raise UserError("cannot roll back: %s line %d has an entry this imsprep does not know how to undo (op %r); "
                        "nothing was changed. Roll back with the imsprep version that made the run"
                        % (journal_path, number, op))
    return handler


def handlers(journal: Journal, entries: List[Dict[str, object]]) -> List[Undo]:
    """Every entry's handler, checked before anything is done (an unknown op refuses the rollback)."""
    return [handler_for(journal.path, number, entry) for number, entry in enumerate(entries, 1)]


class Record(Undo):
    """An entry that records and changes nothing (begin, end, failed, interrupted, rolled-back)."""


class NoteAfter(Undo):
    def note(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        rb.afters[str(entry.get("path"))] = entry


class NoteRestored(Undo):
    def note(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        rb.finished.add(str(entry.get("path")))


class NoteReinstalled(Undo):
    def note(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        rb.reinstalled.add(int(str(entry.get("index"))))


def changed_since(system: System, path: str, after: Dict[str, object], current: Dict[str, object]) -> str:
    """How ``path`` differs from what imsprep left: a unified diff for text, sizes and hashes otherwise."""
    copy = after.get("copy")
    if current.get("kind") == "file" and copy and system.is_file(str(copy)):
        try:
            old = system.read_bytes(str(copy))
            new = system.read_bytes(path)
        except OSError:
            old = new = b""
        if b"\0" not in old[:8192] + new[:8192]:
            lines = difflib.unified_diff(old.decode("utf-8", "replace").splitlines(True),
                                         new.decode("utf-8", "replace").splitlines(True),
                                         fromfile="%s (as imsprep left it)" % path, tofile="%s (now)" % path)
            text = "".join(lines)
            if text:
                return text if text.endswith("\n") else text + "\n"

    def describe(state: Dict[str, object]) -> str:
        if not state.get("exists"):
            return "absent"
        if state.get("kind") != "file":
            return "a %s" % state.get("kind")
        return "%s bytes, sha256 %s" % (state.get("size"), str(state.get("sha256"))[:16])

    return "  as imsprep left it: %s\n  now: %s\n" % (describe(after), describe(current))


class RestoreFile(Undo):
    """A ``file`` entry (written before a file is changed, created or deleted): the first one of a
    path is the state before the run. The file is restored from its backup, or deleted if the run
    created it; a file changed since the fix is kept and named with its diff, unless --force.
    Which files changed is decided before any change: reinstalling packages recreates files the
    run's package removal deleted, and that is rollback's own doing, not a later edit."""

    stage = FILES

    def note(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        rb.firsts.setdefault(str(entry.get("path")), entry)

    def check(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        path = str(entry.get("path"))
        if rb.firsts.get(path) is not entry or path in rb.finished:
            return
        current = file_state(rb.system, path)
        after = rb.afters.get(path)
        if after is not None and not same_state(current, after) and not rb.force:
            rb.result.refused.append(path)
            rb.result.diffs.append("%s changed since the fix:\n%s" % (path, changed_since(rb.system, path, after, current)))
            return
        rb.todo.add(path)

    def undo(self, rb: Rollback, index: int, entry: Dict[str, object]) -> None:
        path = str(entry.get("path"))
        if rb.firsts.get(path) is not entry or path not in rb.todo:
            return
        system, result = rb.system, rb.result
        current = file_state(system, path)
        try:
            if entry.get("existed"):
                backup = str(entry.get("backup"))
                if not system.is_file(backup):
                    if rb.force:
                        rb.mark(path, skipped="backup %s missing" % backup)
                        result.given_up.append("%s: not restored, its backup %s is missing (given up: --force)" % (path, backup))
                    else:
                        result.failed.append("%s: not restored, its backup %s is missing" % (path, backup))
                    return
                if current.get("exists") and current.get("kind") not in ("file", "unreadable"):
                    result.failed.append("%s: not restored, a %s stands at its place now" % (path, current.get("kind")))
                    return
                if not rb.dry_run:
                    system.copy_file(backup, path)
                    rb.mark(path)
                result.done.append("restored %s" % path)
            elif current.get("exists") and current.get("kind") == "file":
                if not rb.dry_run:
                    system.unlink(path)
                    rb.mark(path)
                result.done.append("removed %s (created by the run)" % path)
            else:
                if current.get("exists"):  # a directory imsprep did not create: left alone
                    result.done.append("left %s: a %s imsprep did not create" % (path, current.get("kind")))
                rb.mark(path)
        except (OSError, UserError) as exc:
            result.failed.append("%s: not restored: %s" % (path, exc))


for _op in ("begin", "end", "failed", "interrupted", "rolled-back"):
    register(_op, Record())
register("after", NoteAfter())
register("restored", NoteRestored())
register("reinstalled", NoteReinstalled())
register("file", RestoreFile())
