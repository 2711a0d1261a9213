"""The one gateway to the guest: every file read and every command goes through `System`.

A `System` knows the root it works on: ``/`` for the live machine, or a directory holding a
mounted guest image (``--root``). Paths given to it are always *guest* paths (``/etc/fstab``);
under ``--root`` they are resolved the way the guest's own kernel would resolve them after a
chroot, so an absolute symlink such as ``/etc/os-release -> /usr/lib/os-release`` stays inside
the guest and ``..`` can never climb above the root.
"""

import contextlib
import errno
import fcntl
import fnmatch
import logging
import os
import stat as stat_mod
import threading
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence

import sh

from .errors import UserError

LOG = logging.getLogger(__name__)

MAX_SYMLINKS = 40  # the kernel's own limit (ELOOP)
DEFAULT_TIMEOUT = 120
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SH_MAJOR = int(str(getattr(sh, "__version__", "1")).split(".")[0])
DEFAULT_MAX_READ_BYTES = 4 << 20  # imsprep.conf: max_read_bytes
STATE_AREAS = ("/var/lib/imsprep", "/var/log/imsprep")  # imsprep's own: no symlink anywhere on the path
WRITE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


def _file_kind(mode: int) -> str:
    for test, name in ((stat_mod.S_ISFIFO, "FIFO"), (stat_mod.S_ISCHR, "character device"),
                       (stat_mod.S_ISBLK, "block device"), (stat_mod.S_ISSOCK, "socket"),
                       (stat_mod.S_ISDIR, "directory"), (stat_mod.S_ISLNK, "symbolic link"),
                       (stat_mod.S_ISREG, "regular file")):
        if test(mode):
            return name
    return "special file"


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    """A write refused by the filesystem (read-only, no permission, full) becomes one clear line."""
    try:
        yield
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise UserError("cannot write %s in the guest: %s" % (path, exc.strerror or exc)) from None
        raise


def _copy_xattrs(src_fd: int, name: str, dir_fd: int) -> None:
    """Extended attributes (SELinux labels, capabilities) from an fd to a file in a directory fd."""
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(src_fd)
    except OSError:
        return
    if not names:
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return
    try:
        for attr in names:
            try:
                os.setxattr(fd, attr, os.getxattr(src_fd, attr))
            except OSError:
                pass
    finally:
        os.close(fd)


def _rmtree_at(parent_fd: int, name: str) -> None:
    """rm -r of ``name`` in directory ``parent_fd``: fds only, never following a link."""
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        for entry in os.listdir(fd):
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat_mod.S_ISDIR(st.st_mode):
                _rmtree_at(fd, entry)
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


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

    def __init__(self, root: str = "/", max_read_bytes: Optional[int] = None):
        root = os.path.abspath(root or "/")
        if not os.path.isdir(root):
            raise UserError("root %s is not a directory" % root)
        self.root = root
        self.live = root == "/"
        self.commands_run: List[CommandResult] = []
        self.max_read_bytes = max_read_bytes or DEFAULT_MAX_READ_BYTES
        self.truncated: List[str] = []  # guest files longer than max_read_bytes (read only in part)
        self.unreadable: Dict[str, str] = {}  # guest path -> why it was not read (FIFO, device, ...)
        # set by fix.sandbox.guest_sandbox under --root: turns a guest argv into a sandboxed one
        self.isolate: Optional[Callable[[str, List[str]], List[str]]] = None
        # offline: the disk on this machine that holds the guest (facts.hostdisk.HostDisk), once known
        self.disk: Optional[object] = None
        self.label: Optional[str] = None  # how reports name this guest, when not by its root (--image)

    # ------------------------------------------------------------------ paths
    def host_path(self, path: str) -> str:
        """Return the host path for guest ``path``, resolving symlinks inside the root.

        Raises OSError(ELOOP) on symlink loops, like the kernel would.
        """
        if self.live:
            # not "/" + path: POSIX normpath keeps a leading "//", so "/var" would become "//var"
            return os.path.normpath("/" + path.lstrip("/"))
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
    # Reads are bounded (``max_read_bytes``, 4 MiB unless imsprep.conf says otherwise) and never
    # open anything but a regular file: a FIFO would hang us, /dev/zero would never end.
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

    def _open_regular(self, path: str) -> int:
        """A read-only fd on guest ``path``, only if it is a regular file (resolved inside the
        root, then opened with O_NOFOLLOW|O_NONBLOCK so neither a swapped link nor a FIFO bites)."""
        host = os.path.realpath(self.host_path(path)) if self.live else self.host_path(path)
        fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode):
                kind = _file_kind(st.st_mode)
                if path not in self.unreadable:
                    self.unreadable[path] = "a %s, not a regular file: not read" % kind
                    LOG.warning("%s is a %s, not a regular file: not read", path, kind)
                raise OSError(errno.EISDIR if kind == "directory" else errno.EINVAL,
                              "%s is a %s, not a regular file" % (path, kind), path)
            # regular file: blocking reads from now on
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read_bytes(self, path: str, limit: Optional[int] = None) -> bytes:
        """At most ``limit`` (default and upper bound: ``max_read_bytes``) bytes of a regular file;
        a file longer than the bound is reported (``truncated``) and read only up to it."""
        cap = self.max_read_bytes if limit is None else min(limit, self.max_read_bytes)
        fd = self._open_regular(path)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(cap + 1)
        if len(data) > cap:
            data = data[:cap]
            if limit is None or limit >= self.max_read_bytes:
                self._note_truncated(path)
        return data

    def _note_truncated(self, path: str) -> None:
        if path not in self.truncated:
            self.truncated.append(path)
            LOG.warning("%s is larger than %d bytes (max_read_bytes): only its beginning was read", path, self.max_read_bytes)

    def read_text(self, path: str, default: Optional[str] = None) -> Optional[str]:
        """File text (undecodable bytes replaced, at most ``max_read_bytes`` read);
        ``default`` if it cannot be read (missing, not a regular file, ...)."""
        try:
            return self.read_bytes(path).decode("utf-8", "replace")
        except (OSError, ValueError):
            return default

    def iter_lines(self, path: str, max_bytes: Optional[int] = None) -> Iterator[str]:
        """The file's lines (decoded with replacement), streamed: for files that are legitimately
        larger than max_read_bytes (dpkg's status). Stops after ``max_bytes`` (reported like a cut
        read). Nothing if the file cannot be opened."""
        cap = max_bytes or self.max_read_bytes
        try:
            fh = self.open_binary(path)
        except OSError:
            return
        seen = 0
        with fh:
            while True:
                raw = fh.readline(min(1 << 20, cap - seen + 1))
                if not raw:
                    return
                seen += len(raw)
                if seen > cap:
                    if path not in self.truncated:
                        self.truncated.append(path)
                        LOG.warning("%s is larger than %d bytes: only its beginning was read", path, cap)
                    return
                yield raw.decode("utf-8", "replace")

    def open_binary(self, path: str) -> IO[bytes]:
        """A regular file opened for streaming (initramfs images: not bounded, never a device)."""
        return os.fdopen(self._open_regular(path), "rb")

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
    #
    # No symlink games: a path is resolved inside the root (as reads are), then every write,
    # rename and delete is made through directory fds opened component by component from the
    # root with O_NOFOLLOW|O_DIRECTORY, so a link swapped in meanwhile can never make imsprep
    # write outside the root. In imsprep's own state (/var/lib/imsprep, /var/log/imsprep) a
    # symlink anywhere on the path is refused outright.
    def _check_state_path(self, path: str, follow_last: bool = True) -> None:
        """A symlink on the path is refused; the last component may be one when the link itself is
        the object (unlink removes a link, never its target)."""
        norm = os.path.normpath("/" + path.lstrip("/"))
        if not any(norm == area or norm.startswith(area + "/") for area in STATE_AREAS):
            return
        current = self.root
        parts = [p for p in norm.split("/") if p]
        for index, part in enumerate(parts):
            current = os.path.join(current, part)
            if not follow_last and index == len(parts) - 1:
                return
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                return
            except OSError:
                return
            if stat_mod.S_ISLNK(st.st_mode):
                raise UserError("refusing to write %s: %s is a symbolic link in the guest (imsprep's state "
                                "directories must be real directories); remove it and run imsprep again"
                                % (path, self.guest_path(current)))

    def check_state_paths(self, paths: Sequence[str]) -> None:
        """Refuse (UserError) if any of these state paths goes through a symlink."""
        for path in paths:
            self._check_state_path(path)

    def _split_resolved(self, path: str, follow_last: bool = True) -> "tuple":
        """(components of the resolved parent directory below the root, final name)."""
        self._check_state_path(path, follow_last=follow_last)
        host = self._resolve(path, follow_last=follow_last)
        rel = os.path.relpath(host, self.root)
        if rel == "." or rel.startswith(".."):
            raise UserError("refusing to write %s: it resolves to the root itself" % path)
        parts = rel.split("/")
        return parts[:-1], parts[-1]

    def _open_dir(self, parts: Sequence[str], create: bool = False, mode: int = 0o755, guest: str = "") -> int:
        """An fd on root/parts..., each component opened with O_NOFOLLOW|O_DIRECTORY (and made if
        ``create``). A symlink met on the way (planted after resolution) is refused."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in parts:
                try:
                    nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(part, mode, dir_fd=fd)
                    except FileExistsError:
                        pass
                    nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UserError("refusing to write %s: a component of its path (%s) is not a directory "
                                        "(a symbolic link planted in the guest?)" % (guest or "/".join(parts), part)) from None
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        with _writing(path):
            parents, name = self._split_resolved(path)
            os.close(self._open_dir(list(parents) + [name], create=True, mode=mode, guest=path))

    def make_fresh_dir(self, path: str, mode: int = 0o700) -> None:
        """Create ``path`` (which must not exist yet); its parents are made as needed."""
        with _writing(path):
            parents, name = self._split_resolved(path, follow_last=False)
            dfd = self._open_dir(parents, create=True, guest=path)
            try:
                os.mkdir(name, mode, dir_fd=dfd)
            finally:
                os.close(dfd)

    def _write_in(self, dfd: int, name: str, chunks: Iterator[bytes], mode: int) -> None:
        tmp = ".%s.imsprep-tmp" % name
        try:
            os.unlink(tmp, dir_fd=dfd)  # a stale one (never followed: unlink does not follow)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fchmod(fh.fileno(), mode)
                os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
        try:
            os.fsync(dfd)
        except OSError:
            pass

    def write_atomic(self, path: str, data: bytes, mode: Optional[int] = None) -> None:
        with _writing(path):
            parents, name = self._split_resolved(path)
            dfd = self._open_dir(parents, create=True, guest=path)
            try:
                if mode is None:
                    try:
                        mode = stat_mod.S_IMODE(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
                    except OSError:
                        mode = 0o644
                self._write_in(dfd, name, iter([data]), mode)
            finally:
                os.close(dfd)

    def append_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Append to a file (journal, change log), fsynced; the file itself is never a followed link."""
        with _writing(path):
            parents, name = self._split_resolved(path, follow_last=False)
            dfd = self._open_dir(parents, create=True, guest=path)
            try:
                fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
            except OSError as exc:
                os.close(dfd)
                if exc.errno == errno.ELOOP:
                    raise UserError("refusing to write %s: it is a symbolic link in the guest" % path) from None
                raise
            os.close(dfd)
            try:
                if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                    raise UserError("refusing to write %s: not a regular file" % path)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def open_state_file(self, path: str, mode: int = 0o600) -> IO[str]:
        """Open (create) a small state file read/write, e.g. the lock, without following links."""
        with _writing(path):
            parents, name = self._split_resolved(path, follow_last=False)
            dfd = self._open_dir(parents, create=True, guest=path)
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UserError("refusing to open %s: it is a symbolic link in the guest" % path) from None
                raise
            finally:
                os.close(dfd)
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise UserError("refusing to open %s: not a regular file" % path)
            return os.fdopen(fd, "r+")

    def fsync_dir(self, path: str) -> None:
        try:
            fd = os.open(os.path.dirname(self.host_path(path)), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def copy_file(self, src: str, dst: str) -> None:
        """Copy guest ``src`` (a regular file) to guest ``dst`` (atomically, mode and times kept,
        contents fsynced)."""
        with _writing(dst):
            sfd = self._open_regular(src)
            with os.fdopen(sfd, "rb") as fin:
                st = os.fstat(fin.fileno())
                parents, name = self._split_resolved(dst)
                dfd = self._open_dir(parents, create=True, guest=dst)
                try:
                    self._write_in(dfd, name, iter(lambda: fin.read(1 << 20), b""), stat_mod.S_IMODE(st.st_mode))
                    try:
                        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)
                    except OSError:
                        pass
                    _copy_xattrs(fin.fileno(), name, dfd)
                finally:
                    os.close(dfd)

    def replace(self, src: str, dst: str) -> None:
        """Atomic rename of guest ``src`` over guest ``dst`` (same filesystem)."""
        with _writing(dst):
            sparents, sname = self._split_resolved(src, follow_last=False)
            dparents, dname = self._split_resolved(dst)
            sfd = self._open_dir(sparents, guest=src)
            try:
                dfd = self._open_dir(dparents, guest=dst)
                try:
                    os.replace(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            finally:
                os.close(sfd)

    def unlink(self, path: str) -> None:
        """Delete a file (a symlink itself, never its target); a missing file is fine."""
        with _writing(path):
            opened = self._parent_fd(path)
            if opened is None:
                return
            dfd, _parents, name = opened
            try:
                os.unlink(name, dir_fd=dfd)
            except FileNotFoundError:
                pass
            finally:
                os.close(dfd)

    def _parent_fd(self, path: str) -> "Optional[tuple]":
        """(fd of the parent directory opened without following links, its components, the
        final name) for a delete of ``path`` itself; None when the parent does not exist."""
        try:
            parents, name = self._split_resolved(path, follow_last=False)
            return self._open_dir(parents, guest=path), parents, name
        except FileNotFoundError:
            return None

    def remove_tree(self, path: str) -> None:
        """Delete a directory tree imsprep created in the guest; refuses if anything is mounted
        below it. The tree is walked by fds without following any link, so a link inside cannot
        lead it elsewhere; a link *as* the path is refused."""
        with _writing(path):
            opened = self._parent_fd(path)
            if opened is None:
                return
            dfd, parents, name = opened
            try:
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    return
                if not stat_mod.S_ISDIR(st.st_mode):
                    raise UserError("refusing to delete %s: not a directory (a %s)" % (path, _file_kind(st.st_mode)))
                host = os.path.join(self.root, *(list(parents) + [name]))
                mounts = System("/").read_text("/proc/mounts") or ""
                if any(line.split()[1].startswith(host.rstrip("/") + "/") for line in mounts.splitlines() if len(line.split()) > 1):
                    raise UserError("refusing to delete %s: something is mounted below it" % path)
                _rmtree_at(dfd, name)
            finally:
                os.close(dfd)

    def size(self, path: str) -> int:
        try:
            return os.path.getsize(self.host_path(path))
        except OSError:
            return 0

    def free_bytes(self, path: str) -> int:
        """Free space for an unprivileged write on the filesystem holding guest ``path``."""
        from .proc import disk_free

        probe = path
        while probe not in ("", "/") and not self.exists(probe):
            probe = os.path.dirname(probe)
        return disk_free(self.host_path(probe or "/"))

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
        kwargs: Dict[str, Any] = dict(
            _env=full_env,
            _ok_code=list(range(256)),
            _tty_out=False,
            _in=None,
            _bg=True,
            _bg_exc=False,
            _new_session=True,
        )
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
            def expire(pid: int = pid) -> None:
                timed_out.append(True)
                kill_tree(pid)

            timer = threading.Timer(timeout, expire)
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
