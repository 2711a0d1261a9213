"""Actions of a fix plan. Each one can describe itself (with a diff for file edits) for the dry
run, and apply itself while writing to the journal first (write-ahead) so it can be rolled back."""

import difflib
import os
import re
from typing import Callable, Dict, List, Optional

from ..facts.initramfs import InitramfsReader
from ..facts.kernels import Kernel
from ..facts.kmod import normalize
from ..system import System
from .journal import Journal

Progress = Callable[[str], None]


class ActionFailed(Exception):
    pass


class Action:
    kind = "action"

    def summary(self) -> str:
        raise NotImplementedError

    def diff(self) -> str:
        return ""

    def apply(self, system: System, journal: Journal, progress: Progress) -> str:
        raise NotImplementedError

    def to_dict(self) -> Dict[str, object]:
        return {"kind": self.kind, "summary": self.summary(), "diff": self.diff()}


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
        system.write_atomic(self.path, self.new.encode(), mode=None if self.old is not None else self.mode)
        journal.log("%s %s (%s)" % ("created" if self.old is None else "edited", self.path, self.why))
        return "%s %s" % ("created" if self.old is None else "edited", self.path)


class RunDepmod(Action):
    kind = "depmod"

    def __init__(self, kernel: Kernel):
        self.kernel = kernel

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

    def __init__(self, kernel: Kernel, image: str, generator: str, argv_builder: Callable[[str], List[str]],
                 required: List[str], reasons: List[str], size_estimate: int, env: Optional[Dict[str, str]] = None,
                 prepare: Optional[List[Action]] = None, cleanup: Optional[List[str]] = None):
        self.kernel = kernel
        self.image = image
        self.generator = generator
        self.argv_builder = argv_builder
        self.required = required  # normalised module names that must be in the new image
        self.reasons = reasons
        self.size_estimate = size_estimate
        self.env = env
        self.prepare = prepare or []
        self.cleanup = cleanup or []

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
        journal.append({"op": "tmp-image", "path": self.tmp_path})
        argv = self.command()
        progress("  building %s: %s" % (self.kernel.kver, " ".join(argv)))
        try:
            result = system.run(argv, timeout=1800, env=self.env)
            if not result.ok or not system.is_file(self.tmp_path):
                tail = (result.stderr.strip() or result.stdout.strip())[-600:]
                raise ActionFailed("%s exited %d; the old initramfs is kept. Output: %s" % (argv[0], result.rc, tail))
            missing = verify_image(system, self.tmp_path, self.kernel.kver, self.required)
            if missing:
                raise ActionFailed("the new initramfs lacks %s; the old initramfs is kept" % ", ".join(missing))
            journal.backup_file(self.image, "initramfs rebuilt for %s" % self.kernel.kver)
            if system.is_file(self.image):  # keep the old image's permissions (dracut writes 0600)
                os.chmod(system.host_path(self.tmp_path), system.stat(self.image).st_mode & 0o7777)
            system.replace(self.tmp_path, self.image)
        finally:
            system.unlink(self.tmp_path)
            for path in self.cleanup:
                system.unlink(path)
        journal.log("rebuilt %s for %s with %s (verified: %s)" % (self.image, self.kernel.kver, self.generator, " ".join(self.required)))
        return "rebuilt %s (%d bytes, verified %d modules)" % (self.image, system.size(self.image), len(self.required))


def verify_image(system: System, path: str, kver: str, required: List[str]) -> List[str]:
    """Required modules not found in the image at ``path`` (for kernel ``kver``)."""
    reader = InitramfsReader(run_host=lambda argv, stdout_file=None: system.run(argv, in_guest=False, stdout_file=stdout_file))
    with system.open_binary(path) as fh:
        listing = reader.list(fh, path)
    present = set()
    for file_path in listing.files:
        if kver in file_path.split("/"):
            name = os.path.basename(file_path)
            if ".ko" in name:
                present.add(normalize(name))
    return [m for m in required if m not in present]


class RemoveSuite(Action):
    """Remove a PV / vendor suite: its uninstaller, else its packages in dependency order.
    Package files are kept (the .deb/.rpm) where they can be had, so rollback can reinstall."""

    kind = "remove-suite"

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
            tool = {"dpkg": "dpkg --purge", "rpm": "rpm -e"}.get(self.package_db or "", "remove")
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
            if self.package_db == "dpkg":
                argv = ["dpkg", "--purge"] + names
            elif self.package_db == "rpm":
                argv = ["rpm", "-e"] + names
            else:
                raise ActionFailed("no package manager to remove %s" % " ".join(names))
            progress("  " + " ".join(argv))
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
        watched = set()
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
        if self.package_db == "dpkg":
            text = system.read_text("/var/lib/dpkg/status") or ""
            return bool(re.search(r"^Package: %s\nStatus: install ok installed" % re.escape(name), text, re.M))
        if self.package_db == "rpm":
            return system.run(["rpm", "-q", name], timeout=60).ok
        return False

    def _save_packages(self, system: System, journal: Journal) -> Dict[str, str]:
        """Keep each package file for rollback: from the package cache, else downloaded in the guest."""
        saved: Dict[str, str] = {}
        target = journal.directory + "/packages"
        system.makedirs(target)
        for name, version in self.packages:
            if self.package_db == "dpkg":
                cached = system.glob("/var/cache/apt/archives/%s_%s_*.deb" % (name, version.replace(":", "%3a")))
                if cached:
                    dest = "%s/%s" % (target, cached[0].rsplit("/", 1)[-1])
                    system.copy_file(cached[0], dest)
                    saved[name] = dest
                    continue
                result = system.run(["sh", "-c", 'cd "$1" && apt-get download -q "$2=$3"', "sh", target, name, version], timeout=300)
                found = system.glob("%s/%s_*.deb" % (target, name))
                if result.ok and found:
                    saved[name] = found[0]
            elif self.package_db == "rpm":
                cached = system.glob("/var/cache/*/*/*/packages/%s-%s*.rpm" % (name, version)) + \
                    system.glob("/var/cache/*/*/packages/%s-%s*.rpm" % (name, version))
                if cached:
                    dest = "%s/%s" % (target, cached[0].rsplit("/", 1)[-1])
                    system.copy_file(cached[0], dest)
                    saved[name] = dest
        return saved
