"""The journal of one fix run, and the lock that keeps two runs apart.

Layout in the guest: ``/var/lib/imsprep/runs/<run-id>/journal.jsonl`` (one JSON object a line,
appended and fsynced *before* each change: write-ahead, so a run killed at any point can be
rolled back) and ``backup/`` holding the previous version of every file touched, at its guest
path. ``/var/log/imsprep/changes.log`` keeps a human-readable record of every change."""

import fcntl
import json
import os
import time
from typing import Dict, Iterator, List, Optional

from ..errors import UserError
from ..system import System

STATE_DIR = "/var/lib/imsprep"
RUNS_DIR = STATE_DIR + "/runs"
LOCK_FILE = STATE_DIR + "/lock"
CHANGE_LOG = "/var/log/imsprep/changes.log"


class Lock:
    """An exclusive flock on ``/var/lib/imsprep/lock`` in the guest; the holder writes who it is."""

    def __init__(self, system: System, command: str):
        self.system = system
        self.command = command
        self.fh = None

    def __enter__(self) -> "Lock":
        self.system.makedirs(STATE_DIR, mode=0o700)
        path = self.system.host_path(LOCK_FILE)
        fh = open(path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            fh.close()
            raise UserError("another imsprep run holds %s (%s); wait for it to finish" % (LOCK_FILE, holder)) from None
        fh.seek(0)
        fh.truncate()
        fh.write("pid %d, 'imsprep %s', since %s" % (os.getpid(), self.command, time.strftime("%Y-%m-%d %H:%M:%S")))
        fh.flush()
        self.fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.seek(0)
            self.fh.truncate()
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


class Journal:
    def __init__(self, system: System, run_id: str):
        self.system = system
        self.run_id = run_id
        self.directory = "%s/%s" % (RUNS_DIR, run_id)
        self.path = self.directory + "/journal.jsonl"
        self.backup_dir = self.directory + "/backup"

    @classmethod
    def create(cls, system: System) -> "Journal":
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-%d" % os.getpid()
        journal = cls(system, run_id)
        system.makedirs(journal.backup_dir, mode=0o700)
        journal.append({"op": "begin", "time": time.time()})
        return journal

    @classmethod
    def runs(cls, system: System) -> List[str]:
        return sorted(n for n in system.listdir(RUNS_DIR) if system.is_file("%s/%s/journal.jsonl" % (RUNS_DIR, n)))

    @classmethod
    def last(cls, system: System, include_rolled_back: bool = False) -> Optional["Journal"]:
        for run_id in reversed(cls.runs(system)):
            journal = cls(system, run_id)
            if include_rolled_back or not journal.rolled_back:
                return journal
        return None

    # ------------------------------------------------------------------ writing
    def append(self, entry: Dict[str, object]) -> None:
        host = self.system.host_path(self.path)
        with open(host, "a") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def log(self, message: str) -> None:
        """One line in the guest's human-readable change log."""
        self.system.makedirs(os.path.dirname(CHANGE_LOG))
        with open(self.system.host_path(CHANGE_LOG), "a") as fh:
            fh.write("%s imsprep[%s]: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), self.run_id, message))

    def backup_file(self, path: str, reason: str) -> None:
        """Record (and copy) ``path`` before it is changed, created or deleted."""
        existed = self.system.is_file(path)
        entry: Dict[str, object] = {"op": "file", "path": path, "existed": existed, "reason": reason}
        if existed:
            backup = self.backup_dir + path
            self.system.copy_file(path, backup)
            entry["backup"] = backup
            entry["mode"] = self.system.stat(path).st_mode & 0o7777
        self.append(entry)

    # ------------------------------------------------------------------ reading
    def entries(self) -> Iterator[Dict[str, object]]:
        text = self.system.read_text(self.path) or ""
        for line in text.splitlines():
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a line cut by a crash: nothing after it was done

    @property
    def rolled_back(self) -> bool:
        return any(e.get("op") == "rolled-back" for e in self.entries())

    @property
    def finished(self) -> bool:
        return any(e.get("op") == "end" for e in self.entries())
