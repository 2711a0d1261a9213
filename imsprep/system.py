"""The one gateway to the guest: every file read and every command goes through `System`.

A `System` knows the root it works on: ``/`` for the live machine, or a directory holding a
mounted guest image (``--root``). Paths given to it are always *guest* paths (``/etc/fstab``);
under ``--root`` they are resolved the way the guest's own kernel would resolve them after a
chroot, so an absolute symlink such as ``/etc/os-release -> /usr/lib/os-release`` stays inside
the guest and ``..`` can never climb above the root.
"""

import errno
import fnmatch
import logging
import os
import shutil
import stat as stat_mod
import threading
from typing import IO, Callable, Dict, Iterator, List, Optional, Sequence

import sh

from .errors import UserError

LOG = logging.getLogger(__name__)

MAX_SYMLINKS = 40  # the kernel's own limit (ELOOP)
DEFAULT_TIMEOUT = 120
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SH_MAJOR = int(str(getattr(sh, "__version__", "1")).split(".")[0])


class CommandResult:
    """What one command did: argv, exit code and output (bytes decoded leniently)."""

    def __init__(self, argv: Sequence[str], rc: int, stdout: bytes, stderr: bytes):
        self.argv = list(argv)
        self.rc = rc
        self.stdout_bytes = stdout
        self.stdout = stdout.decode("utf-8", "replace")
        self.stderr = stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def __repr__(self) -> str:
        return "CommandResult(%r, rc=%d)" % (self.argv, self.rc)


class System:
    """Access to one guest (the live system or a tree under ``root``)."""

    def __init__(self, root: str = "/"):
        root = os.path.abspath(root or "/")
        if not os.path.isdir(root):
            raise UserError("root %s is not a directory" % root)
        self.root = root
        self.live = root == "/"
        self.commands_run: List[CommandResult] = []
        # set by fix.sandbox.guest_sandbox under --root: turns a guest argv into a sandboxed one
        self.isolate: Optional[Callable[[str, List[str]], List[str]]] = None

    # ------------------------------------------------------------------ paths
    def host_path(self, path: str) -> str:
        """Return the host path for guest ``path``, resolving symlinks inside the root.

        Raises OSError(ELOOP) on symlink loops, like the kernel would.
        """
        if self.live:
            return os.path.normpath("/" + path)
        return self._resolve(path, follow_last=True)

    def _resolve(self, path: str, follow_last: bool) -> str:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        resolved: List[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *(resolved + [part]))
            is_last = not parts
            try:
                st = os.lstat(candidate)
            except OSError:
                resolved.append(part)
                continue
            if stat_mod.S_ISLNK(st.st_mode) and (follow_last or not is_last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                target = os.readlink(candidate)
                target_parts = [p for p in target.split("/") if p not in ("", ".")]
                if target.startswith("/"):
                    resolved = []
                parts = target_parts + parts
                continue
            resolved.append(part)
        return os.path.join(self.root, *resolved) if resolved else self.root

    def guest_path(self, host_path: str) -> str:
        """Inverse of host_path for paths produced by this object."""
        if self.live:
            return host_path
        rel = os.path.relpath(host_path, self.root)
        return "/" if rel == "." else "/" + rel

    # ------------------------------------------------------------------ files
    def exists(self, path: str) -> bool:
        try:
            return os.path.exists(self.host_path(path))
        except OSError:
            return False

    def is_file(self, path: str) -> bool:
        try:
            return os.path.isfile(self.host_path(path))
        except OSError:
            return False

    def is_dir(self, path: str) -> bool:
        try:
            return os.path.isdir(self.host_path(path))
        except OSError:
            return False

    def is_symlink(self, path: str) -> bool:
        if self.live:
            return os.path.islink(path)
        try:
            return os.path.islink(self._resolve(path, follow_last=False))
        except OSError:
            return False

    def readlink(self, path: str) -> Optional[str]:
        try:
            host = path if self.live else self._resolve(path, follow_last=False)
            return os.readlink(host)
        except OSError:
            return None

    def realpath(self, path: str) -> str:
        """Guest path with every symlink resolved inside the root."""
        if self.live:
            return os.path.realpath(path)
        return self.guest_path(self.host_path(path))

    def stat(self, path: str) -> os.stat_result:
        return os.stat(self.host_path(path))

    def read_bytes(self, path: str, limit: Optional[int] = None) -> bytes:
        with open(self.host_path(path), "rb") as fh:
            return fh.read() if limit is None else fh.read(limit)

    def read_text(self, path: str, default: Optional[str] = None) -> Optional[str]:
        """File text (undecodable bytes replaced); ``default`` if it cannot be read."""
        try:
            with open(self.host_path(path), "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return default

    def open_binary(self, path: str) -> IO[bytes]:
        return open(self.host_path(path), "rb")

    def listdir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(self.host_path(path)))
        except OSError:
            return []

    def glob(self, pattern: str) -> List[str]:
        """Guest paths matching a shell pattern (``*``, ``?``, ``[..]`` per component)."""
        parts = [p for p in pattern.split("/") if p]
        found = ["/"]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt: List[str] = []
            for base in found:
                if any(ch in part for ch in "*?["):
                    for name in self.listdir(base):
                        if fnmatch.fnmatchcase(name, part) and not (
                            name.startswith(".") and not part.startswith(".")
                        ):
                            nxt.append(os.path.join(base, name))
                else:
                    candidate = os.path.join(base, part)
                    if last and (self.exists(candidate) or self.is_symlink(candidate)):
                        nxt.append(candidate)
                    elif not last and self.is_dir(candidate):
                        nxt.append(candidate)
            found = nxt
            if not found:
                break
        return sorted(found) if parts else []

    def walk_files(self, path: str, max_entries: int = 200000) -> Iterator[str]:
        """Every regular file below guest ``path`` (guest paths), never following
        symlinked directories, so a loop in the guest cannot hang us."""
        top = self.host_path(path)
        seen = 0
        for dirpath, _dirnames, filenames in os.walk(top, followlinks=False):
            for name in filenames:
                seen += 1
                if seen > max_entries:
                    return
                yield self.guest_path(os.path.join(dirpath, name))

    # ----------------------------------------------------------------- writes
    # Every write is atomic (a temporary file in the same directory, fsync, rename): a crash
    # leaves the old or the new file, never half of one, and hard-linked copies of a guest tree
    # are never modified in place.
    def makedirs(self, path: str, mode: int = 0o755) -> None:
        os.makedirs(self.host_path(path), mode=mode, exist_ok=True)

    def write_atomic(self, path: str, data: bytes, mode: Optional[int] = None) -> None:
        host = self.host_path(path)
        directory = os.path.dirname(host)
        os.makedirs(directory, exist_ok=True)
        if mode is None:
            try:
                mode = stat_mod.S_IMODE(os.stat(host).st_mode)
            except OSError:
                mode = 0o644
        tmp = os.path.join(directory, ".%s.imsprep-tmp" % os.path.basename(host))
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, host)
        self.fsync_dir(path)

    def fsync_dir(self, path: str) -> None:
        try:
            fd = os.open(os.path.dirname(self.host_path(path)), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def copy_file(self, src: str, dst: str) -> None:
        """Copy guest ``src`` to guest ``dst`` (atomically, mode kept, contents fsynced)."""
        host_src, host_dst = self.host_path(src), self.host_path(dst)
        os.makedirs(os.path.dirname(host_dst), exist_ok=True)
        tmp = host_dst + ".imsprep-tmp"
        with open(host_src, "rb") as fin, open(tmp, "wb") as fout:
            while True:
                block = fin.read(1 << 20)
                if not block:
                    break
                fout.write(block)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(host_src, tmp)
        os.replace(tmp, host_dst)

    def replace(self, src: str, dst: str) -> None:
        """Atomic rename of guest ``src`` over guest ``dst`` (same filesystem)."""
        os.replace(self.host_path(src), self.host_path(dst))
        self.fsync_dir(dst)

    def unlink(self, path: str) -> None:
        try:
            os.unlink(self._resolve(path, follow_last=False) if not self.live else path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        """Delete a directory tree in the guest; refuses if anything is mounted below it."""
        host = self.host_path(path)
        mounts = System("/").read_text("/proc/mounts") or ""
        if any(line.split()[1].startswith(host.rstrip("/") + "/") for line in mounts.splitlines() if len(line.split()) > 1):
            raise UserError("refusing to delete %s: something is mounted below it" % path)
        shutil.rmtree(host, ignore_errors=True)

    def size(self, path: str) -> int:
        try:
            return os.path.getsize(self.host_path(path))
        except OSError:
            return 0

    def free_bytes(self, path: str) -> int:
        """Free space for an unprivileged write on the filesystem holding guest ``path``."""
        import psutil

        probe = path
        while probe not in ("", "/") and not self.exists(probe):
            probe = os.path.dirname(probe)
        return int(psutil.disk_usage(self.host_path(probe or "/")).free)

    def same_filesystem(self, a: str, b: str) -> bool:
        try:
            return os.stat(self.host_path(a)).st_dev == os.stat(self.host_path(b)).st_dev
        except OSError:
            return False

    # --------------------------------------------------------------- commands
    def which(self, name: str) -> Optional[str]:
        """Guest path of an executable found in the guest's standard PATH."""
        for directory in GUEST_PATH.split(":"):
            candidate = directory + "/" + name
            try:
                host = self.host_path(candidate)
            except OSError:
                continue
            if os.path.isfile(host) and os.access(host, os.X_OK):
                return candidate
        return None

    def host_which(self, name: str) -> Optional[str]:
        """An executable of the machine imsprep runs on (for tools used *on* an image)."""
        for directory in (os.environ.get("PATH", "") + ":" + GUEST_PATH).split(":"):
            if directory and os.access(os.path.join(directory, name), os.X_OK):
                return os.path.join(directory, name)
        return None

    def run(
        self,
        argv: Sequence[str],
        timeout: int = DEFAULT_TIMEOUT,
        in_guest: bool = True,
        stdout_file: Optional[IO[bytes]] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> CommandResult:
        """Run a command with LC_ALL=C and a timeout; never raises for a non-zero exit.

        ``in_guest`` commands are the guest's own programs: on a live system they simply run;
        under ``--root`` only through ``self.isolate`` (the bubblewrap sandbox of
        ``imsprep.fix.sandbox``), and without one they are refused, never chrooted into as host
        root. Otherwise the host's tool runs (e.g. ``rpm --root``, a decompressor on an image).

        Every command gets a session (and process group) of its own and only LC_ALL, LANG,
        PATH and ``env`` as its environment. When it times out, or imsprep is interrupted while
        it runs (``imsprep.signals``), its whole process tree is killed before this returns or
        re-raises.
        """
        from .signals import kill_tree

        argv = [str(a) for a in argv]
        pass_fds: List[int] = []
        if in_guest and not self.live:
            if self.isolate is None:
                result = CommandResult(argv, 126, b"", ("refusing to run the guest's %s outside a sandbox" % argv[0]).encode())
                self.commands_run.append(result)
                return result
            argv = self.isolate(self.root, argv)
            take_fds = getattr(self.isolate, "take_fds", None)
            pass_fds = list(take_fds()) if take_fds else []
        full_env = {"LC_ALL": "C", "LANG": "C", "PATH": GUEST_PATH + ":" + os.environ.get("PATH", "")}
        full_env.update(env or {})
        LOG.debug("run: %s", " ".join(argv))
        kwargs = dict(
            _env=full_env,
            _ok_code=list(range(256)),
            _tty_out=False,
            _in=None,
            _bg=True,
            _bg_exc=False,
            _new_session=True,
        )  # type: Dict[str, object]
        if stdout_file is not None:
            kwargs["_out"] = stdout_file
        if pass_fds:
            kwargs["_pass_fds"] = set(pass_fds)
        proc = None
        timer = None
        timed_out: List[bool] = []
        try:
            try:
                program = sh.Command(argv[0])
            except sh.CommandNotFound:
                result = CommandResult(argv, 127, b"", ("%s: command not found" % argv[0]).encode())
                self.commands_run.append(result)
                return result
            try:
                proc = program(*argv[1:], **kwargs)
            finally:
                for fd in pass_fds:
                    os.close(fd)
                pass_fds = []
            # our own timer, not sh's: it kills the whole tree, and being a daemon thread it can
            # never keep an interrupted imsprep from exiting
            pid = proc.pid
            timer = threading.Timer(timeout, lambda: (timed_out.append(True), kill_tree(pid)))
            timer.daemon = True
            timer.start()
            proc.wait()
            rc = proc.exit_code
            out = b"" if stdout_file is not None else (proc.stdout or b"")
            err = proc.stderr or b""
        except sh.SignalException as exc:  # killed by a signal
            rc, out, err = 128 + abs(getattr(exc, "exit_code", 1)), b"", str(exc).encode()
        except (OSError, getattr(sh, "ForkException", OSError)) as exc:  # could not start (sh 1.x needs /dev/fd)
            rc, out, err = 126, b"", str(exc).strip().splitlines()[-1:][0].encode() if str(exc).strip() else b"cannot run"
        except BaseException:  # interrupted (imsprep.signals): nothing we started may outlive this
            if proc is not None:
                kill_tree(proc.pid)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            for fd in pass_fds:
                os.close(fd)
        if timed_out:
            rc, out, err = 124, b"", ("timed out after %ds" % timeout).encode()
        result = CommandResult(argv, rc, out, err)
        LOG.debug("rc=%d", rc)
        self.commands_run.append(result)
        return result
