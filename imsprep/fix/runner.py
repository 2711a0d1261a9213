"""Apply a plan (after the free-space check), and roll the last run back."""

import sys
from typing import Callable, Dict, List

from ..errors import UserError
from ..system import System
from .actions import ActionFailed
from .journal import Journal
from .plan import Plan
from .sandbox import guest_sandbox

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    """Progress on stderr; a closed terminal or pipe must never stop a half-applied fix."""
    try:
        sys.stderr.write(message + "\n")
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

    def merge(self, other: "Outcome") -> None:
        self.done += other.done
        self.failed += other.failed

    def to_dict(self) -> Dict[str, object]:
        return {"done": self.done, "failed": self.failed}


def start_run(system: System, progress: Progress = stderr_progress) -> Journal:
    journal = Journal.create(system)
    journal.log("fix started")
    progress("journal: %s" % journal.directory)
    return journal


def finish_run(journal: Journal, outcome: "Outcome") -> None:
    journal.append({"op": "end"})
    journal.log("fix finished: %d done, %d failed" % (len(outcome.done), len(outcome.failed)))


def apply_plan(system: System, plan: Plan, journal: Journal, progress: Progress = stderr_progress) -> Outcome:
    """Apply every action; a failed action is reported and the others still run (one kernel's
    failed rebuild must not lose the others' work). A failed suite removal stops the run: native
    drivers are configured only once the PV suite is gone."""
    outcome = Outcome()
    with guest_sandbox(system, plan.actions):
        for action in plan.actions:
            progress("- " + action.summary())
            try:
                outcome.done.append(action.apply(system, journal, progress))
            except ActionFailed as exc:
                message = "%s: FAILED: %s" % (action.summary(), exc)
                outcome.failed.append(message)
                journal.append({"op": "failed", "action": action.summary(), "error": str(exc)})
                journal.log(message)
                progress("  " + message)
                if action.kind == "remove-suite":
                    progress("  stopping: the PV suite must go before native drivers are configured")
                    break
    return outcome


def rollback(system: System, journal: Journal, progress: Progress = stderr_progress) -> List[str]:
    """Undo a run in reverse order: restore or delete every file it touched, reinstall removed
    packages from the kept package files, and drop a half-built image left by a crash."""
    entries = list(journal.entries())
    done: List[str] = []
    restored = set()
    with guest_sandbox(system):
        for entry in reversed(entries):
            op = entry.get("op")
            if op == "packages-removed":
                done += _reinstall(system, entry, progress)
    for entry in reversed(entries):
        op = entry.get("op")
        if op == "file":
            path = str(entry["path"])
            if path in restored:
                continue  # already restored to its state before the run
            first = next(e for e in entries if e.get("op") == "file" and e.get("path") == path)
            restored.add(path)
            if first.get("existed"):
                system.copy_file(str(first["backup"]), path)
                done.append("restored %s" % path)
            elif system.exists(path):
                system.unlink(path)
                done.append("removed %s (created by the run)" % path)
        elif op == "tmp-image":
            if system.exists(str(entry["path"])):
                system.unlink(str(entry["path"]))
                done.append("removed the unfinished %s" % entry["path"])
    journal.append({"op": "rolled-back"})
    journal.log("rolled back: %s" % "; ".join(done))
    for line in done[:40]:
        progress("- " + line)
    if len(done) > 40:
        progress("- ... and %d more (see %s)" % (len(done) - 40, journal.path))
    return done


def _reinstall(system: System, entry: Dict[str, object], progress: Progress) -> List[str]:
    saved = entry.get("saved") or {}
    packages = entry.get("packages") or []
    files = [saved[name] for name, _ in packages if name in saved]  # type: ignore[index,union-attr]
    missing = ["%s=%s" % (name, version) for name, version in packages if name not in saved]  # type: ignore[union-attr]
    done = []
    if files:
        argv = ["dpkg", "-i"] + files if entry.get("db") == "dpkg" else ["rpm", "-i", "--replacepkgs"] + files
        progress("  " + " ".join(argv))
        result = system.run(argv, timeout=900, env={"DEBIAN_FRONTEND": "noninteractive"})
        if not result.ok:
            raise UserError("reinstalling %s failed (exit %d): %s" % (" ".join(files), result.rc, result.stderr.strip()[-300:]))
        done.append("reinstalled %s" % " ".join(files))
    if missing:
        done.append("could not reinstall %s: no package file was kept; install them by name" % " ".join(missing))
    return done
