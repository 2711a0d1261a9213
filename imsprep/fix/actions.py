"""Actions of a fix plan. Each one can describe itself (with a diff for file edits) for the dry
run, and apply itself while writing to the journal first (write-ahead) so it can be rolled back."""

import difflib
import os
import re
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

from .. import pkgmgr
from ..errors import UserError
from ..facts.initramfs import InitramfsReader
from ..facts.kernels import Kernel, version_key
from ..system import System
from . import undo
from .faults import fault_point
from .journal import GENERATOR_TMP, Journal

Progress = Callable[[str], None]


class ActionFailed(Exception):
    pass


class Applied:
    """What an action did when it could not do it the way the plan says: ``message`` for the list of
    what was done, ``fallback`` the one line that says which other way it took and why."""

    def __init__(self, message: str, fallback: str):
        self.message = message
        self.fallback = fallback


ApplyResult = Union[str, Applied]  # a plain message: done the way the plan says


# Phases: the order in which a plan's steps are applied (the reference procedure). Each kind of
# action declares its phase; a generic file edit takes the phase of what it configures (place()).
SUITES = 10  # PV / vendor suites go first: what they leave decides the rest
MODPROBE = 20  # modprobe rules that block native drivers
DEVICES = 30  # fstab, then crypttab, by UUID
BOOT = 40  # each bootloader's edits in registry order (a generated file after its sources)
NETWORK = 60  # NIC names and addresses, file by file
GENERATOR_CONFIG = 70  # the initramfs generator's drop-in, before any rebuild
KERNELS = 80  # per kernel, newest first: depmod, then the initramfs rebuild


class Newest:
    """Sort key of a kernel version: newer versions first."""

    def __init__(self, kver: str):
        self.key = version_key(kver)

    def __lt__(self, other: "Newest") -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Newest) and self.key == other.key


class Action:
    kind = "action"
    phase = BOOT  # see the phases above
    within: Tuple[object, ...] = ()  # its place within the phase (what it works on)
    findings: List[str] = []  # the codes of the check findings this action answers (set by the planner)

    def order_key(self) -> Tuple[object, ...]:
        """Where this action goes in a plan: its phase, then its place within the phase (by
        default the file it works on), so the order does not depend on the order the planner made
        the actions in."""
        return (self.phase,) + (self.within or (str(getattr(self, "path", "")),))

    def summary(self) -> str:
        raise NotImplementedError

    def diff(self) -> str:
        return ""

    def apply(self, system: System, journal: Journal, progress: Progress) -> ApplyResult:
        raise NotImplementedError

    def to_dict(self) -> Dict[str, object]:
        return {"kind": self.kind, "summary": self.summary(), "diff": self.diff(), "findings": list(self.findings)}


def place(action: Action, phase: int, *within: object) -> Action:
    """Give a generic action (a file edit) the phase of what it configures, and its place there."""
    action.phase = phase
    action.within = tuple(within)
    return action


def in_order(actions: List[Action]) -> List[Action]:
    """``actions`` in the order their kinds declare (a stable sort)."""
    return sorted(actions, key=lambda action: action.order_key())


def unified_diff(path: str, old: Optional[str], new: str) -> str:
    lines = difflib.unified_diff((old or "").splitlines(True), new.splitlines(True),
                                 fromfile="a" + path if old is not None else "/dev/null", tofile="b" + path)
    return "".join(lines)


class EditFile(Action):
    """Replace a file's content (backed up first; atomic write)."""

    kind = "edit-file"

    def __init__(self, path: str, old: Optional[str], new: str, why: str, mode: int = 0o644):
        self.path = path
        self.old = old
        self.new = new
        self.why = why
        self.mode = mode

    def summary(self) -> str:
        verb = "create" if self.old is None else "edit"
        return "%s %s: %s" % (verb, self.path, self.why)

    def diff(self) -> str:
        return unified_diff(self.path, self.old, self.new)

    def apply(self, system: System, journal: Journal, progress: Progress) -> str:
        journal.backup_file(self.path, self.why)
        fault_point("after-backup")
        system.write_atomic(self.path, self.new.encode(), mode=None if self.old is not None else self.mode)
        journal.log("%s %s (%s)" % ("created" if self.old is None else "edited", self.path, self.why))
        return "%s %s" % ("created" if self.old is None else "edited", self.path)


class DeleteFile(Action):
    kind = "delete-file"

    def __init__(self, path: str, why: str):
        self.path = path
        self.why = why

    def summary(self) -> str:
        return "delete %s: %s" % (self.path, self.why)

    def apply(self, system: System, journal: Journal, progress: Progress) -> str:
        journal.backup_file(self.path, self.why)
        system.unlink(self.path)
        journal.log("deleted %s (%s)" % (self.path, self.why))
        return "deleted %s" % self.path


class RegenerateGrub(Action):
    """grub.cfg is generated: run the guest's grub-mkconfig (after /etc/default/grub was fixed).
    If it cannot run (e.g. in a chroot it cannot probe the disk), the same change (``what``: e.g.
    root=/resume= by UUID) is made in place, so the file is right now and the next regeneration
    keeps it right. That fallback is said in the plan and in the result, not only in the log."""

    kind = "regenerate-grub"
    phase = BOOT

    def __init__(self, path: str, generator: str, old: str, fallback: str, what: str = "root=/resume= by UUID",
                 kernel_args: Optional[List[str]] = None, by_uuid: bool = True):
        self.path = path
        self.generator = generator
        self.old = old
        self.fallback = fallback
        self.what = what
        self.kernel_args = kernel_args or []  # must be on every linux line of the regenerated file
        self.by_uuid = by_uuid  # root=/resume= must not name a kernel device in the regenerated file

    def summary(self) -> str:
        return "regenerate %s with %s (%s); if it cannot run here, edit %s in place (the diff below)" % (
            self.path, self.generator, self.what, self.path)

    def diff(self) -> str:
        return unified_diff(self.path, self.old, self.fallback)

    def apply(self, system: System, journal: Journal, progress: Progress) -> ApplyResult:
        journal.backup_file(self.path, "regenerated by %s" % self.generator)
        tmp = self.path + ".imsprep-new"
        result = system.run([self.generator, "-o", tmp], timeout=300)
        text = system.read_text(tmp) if result.ok else None
        system.unlink(tmp)
        if text and self.accepts(text):
            system.write_atomic(self.path, text.encode())
            journal.log("regenerated %s with %s" % (self.path, self.generator))
            return "regenerated %s" % self.path
        system.write_atomic(self.path, self.fallback.encode())
        why = "exit %d" % result.rc if not result.ok else "its output lacks the change"
        journal.log("%s could not regenerate %s (%s); edited it in place (%s)" % (self.generator, self.path, why, self.what))
        return Applied("edited %s in place (%s: %s)" % (self.path, self.generator, why),
                       "%s: %s could not regenerate it (%s); edited in place instead (%s)" % (self.path, self.generator, why, self.what))

    def accepts(self, text: str) -> bool:
        """The regenerated file carries the change: no kernel device name left as root=/resume=,
        and the kernel arguments on every linux line."""
        if self.by_uuid and "root=/dev/" in text.replace("root=/dev/mapper", ""):
            return False
        linux = [line.split() for line in text.splitlines() if re.match(r"^\s*linux(16|efi)?\s", line)]
        return all(arg in words for arg in self.kernel_args for words in linux)


class RunDepmod(Action):
    kind = "depmod"
    phase = KERNELS

    def __init__(self, kernel: Kernel):
        self.kernel = kernel

    def order_key(self) -> Tuple[object, ...]:
        return (self.phase, Newest(self.kernel.kver), 0)  # before the kernel's rebuild (1)

    def summary(self) -> str:
        return "run depmod for %s (modules.dep %s)" % (self.kernel.kver, self.kernel.dep_error or "is stale")

    def apply(self, system: System, journal: Journal, progress: Progress) -> str:
        moddir = self.kernel.modules_dir or "/lib/modules/" + self.kernel.kver
        for name in ("modules.dep", "modules.dep.bin", "modules.alias", "modules.alias.bin", "modules.symbols",
                     "modules.symbols.bin", "modules.builtin.bin", "modules.builtin.alias.bin", "modules.devname",
                     "modules.softdep"):
            journal.backup_file(moddir + "/" + name, "depmod regenerates it")
        result = system.run(["depmod", "-a", self.kernel.kver], timeout=300)
        if not result.ok:
            raise ActionFailed("depmod -a %s failed (exit %d): %s" % (self.kernel.kver, result.rc, result.stderr.strip()[:300]))
        journal.log("ran depmod -a %s" % self.kernel.kver)
        return "depmod -a %s" % self.kernel.kver


class RebuildInitramfs(Action):
    """Build the kernel's initramfs beside the old one, verify it natively, then swap atomically."""

    kind = "rebuild-initramfs"
    phase = KERNELS

    def __init__(self, kernel: Kernel, image: str, generator: str, argv_builder: Callable[[str], List[str]],
                 required: List[str], reasons: List[str], size_estimate: int, prepare: Optional[List[Action]] = None):
        self.kernel = kernel
        self.image = image
        self.generator = generator
        self.argv_builder = argv_builder
        self.required = required  # normalised module names that must be in the new image
        self.reasons = reasons
        self.size_estimate = size_estimate
        self.prepare = prepare or []

    def order_key(self) -> Tuple[object, ...]:
        return (self.phase, Newest(self.kernel.kver), 1)

    @property
    def tmp_path(self) -> str:
        return self.image + ".imsprep-new"

    def summary(self) -> str:
        return "rebuild %s for kernel %s with %s (%s)" % (self.image, self.kernel.kver, self.generator, "; ".join(self.reasons))

    def command(self) -> List[str]:
        return self.argv_builder(self.tmp_path)

    def apply(self, system: System, journal: Journal, progress: Progress) -> str:
        for step in self.prepare:
            step.apply(system, journal, progress)
        system.unlink(self.tmp_path)
        # the generator's scratch space lives in imsprep's state directory, not in /var/tmp: a
        # fresh directory of this run (journaled first), and only that one is removed afterwards
        scratch = "%s/%s-%s" % (GENERATOR_TMP, journal.run_id, self.kernel.kver.replace("/", "_"))
        system.makedirs(GENERATOR_TMP, mode=0o700)
        journal.append({"op": "tmp-dir", "path": scratch})
        system.make_fresh_dir(scratch, mode=0o700)
        journal.append({"op": "tmp-image", "path": self.tmp_path})
        argv = self.command()
        progress("  building %s: %s" % (self.kernel.kver, " ".join(argv)))
        try:
            result = system.run(argv, timeout=1800, env={"TMPDIR": scratch})
            if system.is_symlink(self.tmp_path):
                raise ActionFailed("%s left %s as a symbolic link, not an image; the old initramfs is kept"
                                   % (argv[0], self.tmp_path))
            if not result.ok or not system.is_file(self.tmp_path):
                tail = (result.stderr.strip() or result.stdout.strip())[-600:]
                raise ActionFailed("%s exited %d; the old initramfs is kept. Output: %s" % (argv[0], result.rc, tail))
            missing = verify_image(system, self.tmp_path, self.kernel.kver, self.required)
            if missing:
                raise ActionFailed("the new initramfs lacks %s; the old initramfs is kept" % ", ".join(missing))
            journal.backup_file(self.image, "initramfs rebuilt for %s" % self.kernel.kver)
            if system.is_file(self.image):  # keep the old image's permissions (dracut writes 0600)
                os.chmod(system.host_path(self.tmp_path), system.stat(self.image).st_mode & 0o7777)
            fault_point("before-replace")
            system.replace(self.tmp_path, self.image)
            fault_point("after-replace")
        finally:
            system.unlink(self.tmp_path)
            system.remove_tree(scratch)
        journal.log("rebuilt %s for %s with %s (verified: %s)" % (self.image, self.kernel.kver, self.generator, " ".join(self.required)))
        return "rebuilt %s (%d bytes, verified %d modules)" % (self.image, system.size(self.image), len(self.required))


class RemoveScratch(undo.Undo):
    """``tmp-image`` / ``tmp-dir`` (RebuildInitramfs): what a run killed mid-build left behind."""

    stage = undo.SCRATCH

    def __init__(self, what: str):
        self.what = what  # "image" or "dir"

    def undo(self, rb: undo.Rollback, index: int, entry: Dict[str, object]) -> None:
        system, path = rb.system, str(entry.get("path"))
        try:
            if self.what == "image" and system.is_file(path):
                if not rb.dry_run:
                    system.unlink(path)
                rb.result.done.append("removed the unfinished %s" % path)
            elif self.what == "dir" and system.is_dir(path) and not system.is_symlink(path):
                if not rb.dry_run:
                    system.remove_tree(path)
                rb.result.done.append("removed the scratch directory %s" % path)
        except (OSError, UserError) as exc:
            rb.result.failed.append("%s: not removed: %s" % (path, exc))


undo.register("tmp-image", RemoveScratch("image"))
undo.register("tmp-dir", RemoveScratch("dir"))


def verify_image(system: System, path: str, kver: str, required: List[str]) -> List[str]:
    """Required modules not found in the image at ``path`` (for kernel ``kver``)."""
    with system.open_binary(path) as fh:
        present = InitramfsReader.on(system).list(fh, path).modules_for(kver, strict=True)
    return [m for m in required if m not in present]


class RemoveSuite(Action):
    """Remove a PV / vendor suite: its uninstaller, else its packages in dependency order.
    Package files are kept (the .deb/.rpm) where they can be had, so rollback can reinstall."""

    kind = "remove-suite"
    phase = SUITES

    def __init__(self, suite_id: str, name: str, uninstaller: Optional[str], packages: List[tuple], package_db: Optional[str],
                 files: List[str]):
        self.suite_id = suite_id
        self.name = name
        self.uninstaller = uninstaller
        self.packages = packages  # (name, version) in removal order
        self.package_db = package_db
        self.files = files  # files to back up first (configs the uninstaller edits or removes)

    def summary(self) -> str:
        how = []
        if self.uninstaller:
            how.append("run %s" % self.uninstaller)
        if self.packages:
            manager = pkgmgr.lookup(self.package_db)
            tool = manager.remove_tool if manager is not None else "remove"
            how.append("%s %s" % (tool, " ".join(n for n, _ in self.packages)))
        return "remove %s: %s" % (self.name, " then ".join(how) or "nothing to run")

    def apply(self, system: System, journal: Journal, progress: Progress) -> str:
        for path in self.files:
            if system.is_file(path):
                journal.backup_file(path, "belongs to %s" % self.name)
        saved = self._save_packages(system, journal)
        if self.uninstaller:
            self._run_uninstaller(system, journal, progress)
        remaining = [(n, v) for n, v in self.packages if self._installed(system, n)]
        if remaining:
            names = [n for n, _ in remaining]
            journal.append({"op": "packages-removed", "db": self.package_db, "packages": [list(p) for p in remaining], "saved": saved})
            manager = pkgmgr.lookup(self.package_db)
            if manager is None:
                raise ActionFailed("no package manager to remove %s" % " ".join(names))
            argv = manager.remove_argv(names)
            progress("  " + " ".join(argv))
            fault_point("during-suite-removal")
            result = system.run(argv, timeout=900, env={"DEBIAN_FRONTEND": "noninteractive"})
            if not result.ok:
                raise ActionFailed("%s failed (exit %d): %s" % (" ".join(argv), result.rc, (result.stderr or result.stdout).strip()[-400:]))
            journal.log("removed packages %s" % " ".join("%s=%s" % p for p in remaining))
        return "removed %s" % self.name

    def _run_uninstaller(self, system: System, journal: Journal, progress: Progress) -> None:
        """A vendor script may edit any configuration and move modules back: everything it can
        touch is backed up first (all of /etc, the suite's files, module metadata), and the files
        it creates are journaled afterwards, so rollback can restore the tree exactly."""
        assert self.uninstaller is not None
        watched: Set[str] = set()
        for path in list(self.files) + [self.uninstaller]:
            if system.is_dir(path):
                watched.update(system.walk_files(path))
            elif system.is_file(path):
                watched.add(path)
        watched.update(system.walk_files("/etc"))
        for moddir in system.glob("/lib/modules/*") + system.glob("/usr/lib/modules/*"):
            watched.update(system.glob(moddir + "/modules.*"))
        for path in sorted(watched):
            if system.is_file(path) and not system.is_symlink(path):
                journal.backup_file(path, "%s uninstaller may change it" % self.name)
        roots = ["/etc", "/lib/modules", "/usr/lib/modules", "/usr/bin", "/usr/sbin", "/sbin", "/bin"]
        before = {p for root in roots if system.is_dir(root) and not system.is_symlink(root) for p in system.walk_files(root)}
        progress("  running %s" % self.uninstaller)
        result = system.run([self.uninstaller], timeout=900)
        after = {p for root in roots if system.is_dir(root) and not system.is_symlink(root) for p in system.walk_files(root)}
        for path in sorted(after - before):
            journal.append({"op": "file", "path": path, "existed": False, "reason": "created by %s" % self.uninstaller})
        if not result.ok:
            raise ActionFailed("%s exited %d: %s" % (self.uninstaller, result.rc, (result.stderr or result.stdout).strip()[-400:]))
        journal.log("ran %s: %s" % (self.uninstaller, result.stdout.strip()[-200:]))

    def _installed(self, system: System, name: str) -> bool:
        manager = pkgmgr.lookup(self.package_db)
        return manager is not None and manager.is_installed(system, name)

    def _save_packages(self, system: System, journal: Journal) -> Dict[str, str]:
        """Keep each package file for rollback (where the package manager can have it)."""
        saved: Dict[str, str] = {}
        target = journal.directory + "/packages"
        system.makedirs(target)
        manager = pkgmgr.lookup(self.package_db)
        for name, version in self.packages:
            kept = manager.save_package(system, name, version, target) if manager is not None else None
            if kept:
                saved[name] = kept
        return saved


class ReinstallPackages(undo.Undo):
    """``packages-removed`` (RemoveSuite): reinstall from the kept package files, once."""

    stage = undo.PACKAGES

    def undo(self, rb: undo.Rollback, index: int, entry: Dict[str, object]) -> None:
        if index in rb.reinstalled:
            return
        rb.result.done += reinstall(rb.system, entry, rb.progress)
        rb.journal.append({"op": "reinstalled", "index": index})


def reinstall(system: System, entry: Dict[str, Any], progress: Progress) -> List[str]:
    saved = entry.get("saved") or {}
    packages = entry.get("packages") or []
    files = [saved[name] for name, _ in packages if name in saved]
    missing = ["%s=%s" % (name, version) for name, version in packages if name not in saved]
    done = []
    if files:
        manager = pkgmgr.lookup(str(entry.get("db")))
        if manager is None:
            raise UserError("reinstalling %s: unknown package database %r in the journal" % (" ".join(files), entry.get("db")))
        argv = manager.reinstall_argv(files)
        progress("  " + " ".join(argv))
        result = system.run(argv, timeout=900, env={"DEBIAN_FRONTEND": "noninteractive"})
        if not result.ok:
            raise UserError("reinstalling %s failed (exit %d): %s" % (" ".join(files), result.rc, result.stderr.strip()[-300:]))
        done.append("reinstalled %s" % " ".join(files))
    if missing:
        done.append("could not reinstall %s: no package file was kept; install them by name" % " ".join(missing))
    return done


undo.register("packages-removed", ReinstallPackages())
