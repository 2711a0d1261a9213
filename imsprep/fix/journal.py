"""The journal of one fix run, and the lock that keeps two runs apart.

Layout in the guest: ``/var/lib/imsprep/runs/<run-id>/journal.jsonl`` (one JSON object a line,
appended and fsynced *before* each change: write-ahead, so a run killed at any point can be
rolled back) and ``backup/`` holding the previous version of every file touched, at its guest
path. ``/var/log/imsprep/changes.log`` keeps a human-readable record of every change.

After each action, the journal records what every file it touched looked like then (``after``:
exists, size, sha256, and a copy of small files under ``after/``), so rollback can tell a file
someone changed since from one imsprep left as it was, and refuse to overwrite the former."""

import fcntl
import hashlib
import json
import os
import stat as stat_mod
import time
from typing import IO, Any, Dict, Iterator, List, Optional

from ..errors import UserError
from ..system import System

STATE_DIR = "/var/lib/imsprep"
RUNS_DIR = STATE_DIR + "/runs"
LOCK_FILE = STATE_DIR + "/lock"
GENERATOR_TMP = STATE_DIR + "/tmp"
CHANGE_LOG = "/var/log/imsprep/changes.log"
STATE_PATHS = [STATE_DIR, RUNS_DIR, LOCK_FILE, GENERATOR_TMP, os.path.dirname(CHANGE_LOG), CHANGE_LOG]
AFTER_COPY_MAX = 1 << 20  # files up to this size are kept as written, for the diff rollback shows


def file_state(system: System, path: str) -> Dict[str, object]:
    """What guest ``path`` is now: {exists, kind, size, sha256} (hash of regular files only)."""
    try:
        st = os.lstat(system.host_path(path))
    except OSError:
        return {"exists": False}
    if not stat_mod.S_ISREG(st.st_mode):
        kind = "directory" if stat_mod.S_ISDIR(st.st_mode) else "special"
        return {"exists": True, "kind": kind}
    digest = hashlib.sha256()
    size = 0
    try:
        with system.open_binary(path) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except OSError:
        return {"exists": True, "kind": "unreadable"}
    return {"exists": True, "kind": "file", "size": size, "sha256": digest.hexdigest()}


def same_state(a: Dict[str, object], b: Dict[str, object]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("exists", "kind", "size", "sha256"))


class Lock:
    """An exclusive flock on ``/var/lib/imsprep/lock`` in the guest; the holder writes who it is."""

    def __init__(self, system: System, command: str):
        self.system = system
        self.command = command
        self.fh: Optional[IO[str]] = None

    def __enter__(self) -> "Lock":
        # the lock needs only its own path; the journal checks the rest before a run writes there
        # (seal takes the lock to remove a planted link such as runs -> /etc, as a link)
        self.system.check_state_paths([STATE_DIR, LOCK_FILE])
        self.system.makedirs(STATE_DIR, mode=0o700)
        fh = self.system.open_state_file(LOCK_FILE)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            fh.close()
            raise UserError("another imsprep run holds %s (%s); wait for it to finish" % (LOCK_FILE, holder)) from None
        fh.seek(0)
        fh.truncate()
        fh.write("pid %d, 'imsprep %s', since %s" % (os.getpid(), self.command, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
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
        self.after_dir = self.directory + "/after"
        self.touched: List[str] = []  # path of every "file" entry, in order, repeats kept (this process)

    @classmethod
    def create(cls, system: System) -> "Journal":
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-%d" % os.getpid()
        journal = cls(system, run_id)
        system.check_state_paths(STATE_PATHS + [journal.directory])
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
        self.system.append_file(self.path, (json.dumps(entry, sort_keys=True) + "\n").encode())
        if entry.get("op") == "file":
            self.touched.append(str(entry["path"]))

    def log(self, message: str) -> None:
        """One line in the guest's human-readable change log."""
        line = "%s imsprep[%s]: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), self.run_id, message)
        self.system.append_file(CHANGE_LOG, line.encode(), mode=0o644)

    def backup_file(self, path: str, reason: str) -> None:
        """Record (and copy) ``path`` before it is changed, created or deleted."""
        existed = self.system.is_file(path)
        if not existed and self.system.exists(path):
            raise UserError("refusing to change %s: it is not a regular file (a %s)"
                            % (path, file_state(self.system, path).get("kind")))
        entry: Dict[str, object] = {"op": "file", "path": path, "existed": existed, "reason": reason}
        if path in self.touched:
            # changed again by a later action of this run: the backup made first (the state before
            # the run) is the one rollback restores; copying again would overwrite it
            entry["again"] = True
            self.append(entry)
            return
        if existed:
            backup = self.backup_dir + path
            self.system.copy_file(path, backup)
            entry["backup"] = backup
            entry["mode"] = self.system.stat(path).st_mode & 0o7777
        self.append(entry)

    def record_after(self, paths: List[str]) -> None:
        """What each path looks like now that imsprep is done with it (see the module doc)."""
        for path in sorted(set(paths), key=paths.index):
            entry: Dict[str, Any] = {"op": "after", "path": path}
            entry.update(file_state(self.system, path))
            if entry.get("kind") == "file" and int(entry.get("size") or 0) <= AFTER_COPY_MAX:
                copy = self.after_dir + path
                try:
                    self.system.copy_file(path, copy)
                    entry["copy"] = copy
                except (OSError, UserError):
                    pass
            self.append(entry)

    # ------------------------------------------------------------------ reading
    def entries(self) -> Iterator[Dict[str, Any]]:  # parsed JSON lines
        """Every entry, streamed: imsprep's own journal is read whole, whatever max_read_bytes says
        (a big run journals thousands of files), but line by line and never from a FIFO or device."""
        try:
            fh = self.system.open_binary(self.path)
        except OSError:
            return
        with fh:
            for raw in fh:
                try:
                    entry = json.loads(raw.decode("utf-8", "replace"))
                except ValueError:
                    continue  # a line cut by a crash: nothing after it was done
                if isinstance(entry, dict):
                    yield entry

    @property
    def rolled_back(self) -> bool:
        return any(e.get("op") == "rolled-back" for e in self.entries())

    @property
    def finished(self) -> bool:
        return any(e.get("op") == "end" for e in self.entries())
