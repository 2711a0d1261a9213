"""The guest's own programs (its initramfs generator and hooks, depmod, dpkg/rpm, a vendor's
uninstaller, grub-mkconfig) run under ``--root`` inside a bubblewrap sandbox, never as plain
host root in a chroot.

What a guest program gets: the guest tree as ``/`` (read-write, ``nodev,nosuid``), its own PID,
mount, IPC, UTS, network and cgroup namespaces, a fresh, read-only ``/proc`` of that PID namespace
(so no sysctl and no sysrq can be written), a minimal ``/dev`` (``nodev`` elsewhere), no
``/sys`` (mkinitramfs needs none; dracut ``--no-hostonly`` only reads the running kernel's
``firmware_class`` path there, which would describe this machine, not the guest), a new session (no terminal
to push input into), no new privileges, no capabilities at all for generators and depmod (and
only the file-ownership ones for package managers and uninstallers), and, where libseccomp can
be loaded, a seccomp filter refusing mount, ptrace, module loading, kexec, keyrings, namespace
creation and the like. The environment is imsprep's minimal one (LC_ALL, LANG, PATH), never
imsprep's own. ``--die-with-parent`` plus the PID namespace mean the whole process tree dies
with the command, with imsprep, or when imsprep kills it (timeout, SIGTERM): nothing a hook
forked can outlive the step.

Why bubblewrap: it is small, audited and well kept (flatpak's sandbox), in the base
repositories of Debian, Ubuntu, RHEL/CentOS/Rocky/Alma, Fedora, SUSE, EulerOS/openEuler; it is
made for exactly this (run one untrusted program with a chosen view of the filesystem); it has
no daemon and needs no container image (systemd-nspawn wants a booted-container layout,
registers machines with machined and is not installed everywhere); and hand-rolled namespace,
capability and pivot_root code in imsprep would be new, unreviewed security code."""

import contextlib
import ctypes
import ctypes.util
import errno
import os
import sys
from typing import Iterator, List, Optional, Sequence

from ..errors import UserError
from ..generators import generator_programs
from ..system import GUEST_PATH, System

BWRAP = "bwrap"

# Found by experiment on the cached bookworm guests (tests/test_e2e_sandbox.py): mkinitramfs
# with its hooks, dracut --no-hostonly, depmod (and dpkg --purge of a plain package) need no
# capability at all: they run as uid 0 on root-owned files. Package installs (rollback's
# reinstall), maintainer scripts and vendor uninstallers set owners and modes of files that are
# not root's, and may switch users: they keep only those file-ownership capabilities. Never
# granted: SYS_ADMIN, SYS_MODULE, SYS_RAWIO, SYS_PTRACE, NET_ADMIN, MKNOD, DAC_READ_SEARCH
# (open_by_handle_at reaches files outside a bind mount), SYS_BOOT, SYS_TIME, ...
BUILD_CAPS: List[str] = []
PACKAGE_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID"]
# the generators' build programs come from their strategies (imsprep/generators/)
BUILD_PROGRAMS = {"depmod", "grub-mkconfig", "grub2-mkconfig"} | generator_programs()

# Refused with EPERM inside the sandbox (names unknown to this libseccomp or arch are skipped).
DENIED_SYSCALLS = [
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup", "uselib", "nfsservctl", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm",
]
# clone() creating any namespace is refused; clone3 passes flags in memory a filter cannot read,
# so it reports ENOSYS and the C library falls back to clone().
CLONE_NS_FLAGS = [0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x02000000]
TIOCSTI = 0x5412
AF_NETLINK = 16  # AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK stay; AF_PACKET, AF_VSOCK, AF_ALG, ... do not

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_GE = 5
SCMP_CMP_MASKED_EQ = 7


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def seccomp_program() -> "tuple":
    """(BPF program bytes, None) from the host's libseccomp, or (None, why not)."""
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None, "libseccomp is not installed on this machine"
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        return None, "seccomp_init failed"
    try:
        # 32-bit programs of a 64-bit guest use the compat ABI: filter it too
        for arch in (b"x86", b"x32", b"arm"):
            token = lib.seccomp_arch_resolve_name(arch)
            if token:
                lib.seccomp_arch_add(ctx, token)  # fails harmlessly where the kernel/arch has no such ABI

        def rule(action: int, syscall: str, *cmps: "tuple") -> None:
            nr = lib.seccomp_syscall_resolve_name(syscall.encode())
            if nr == -1:  # unknown to this libseccomp
                return
            array = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
            lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)  # may fail on one arch (x86 socketcall): best effort

        for syscall in DENIED_SYSCALLS:
            rule(scmp_act_errno(errno.EPERM), syscall)
        for flag in CLONE_NS_FLAGS:
            rule(scmp_act_errno(errno.EPERM), "clone", (0, SCMP_CMP_MASKED_EQ, flag, flag))
        rule(scmp_act_errno(errno.ENOSYS), "clone3")
        rule(scmp_act_errno(errno.EPERM), "ioctl", (1, SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
        rule(scmp_act_errno(errno.EAFNOSUPPORT), "socket", (0, SCMP_CMP_GE, AF_NETLINK + 1, 0))
        read_fd, write_fd = os.pipe()
        try:
            rc = lib.seccomp_export_bpf(ctx, write_fd)
            os.close(write_fd)
            write_fd = -1
            if rc != 0:
                return None, "libseccomp could not export the filter (%d)" % rc
            chunks = []
            while True:
                block = os.read(read_fd, 65536)
                if not block:
                    break
                chunks.append(block)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        program = b"".join(chunks)
        if not program or len(program) % 8:
            return None, "libseccomp exported an empty filter"
        return program, None
    finally:
        lib.seccomp_release(ctx)


_ANNOUNCED: List[bool] = []


class Sandbox:
    """The ``System.isolate`` hook: turns a guest argv into a bwrap argv. ``take_fds`` hands
    ``System.run`` the descriptors that command needs (the seccomp filter, read once by bwrap)."""

    def __init__(self, bwrap: str = BWRAP, seccomp: Optional[bytes] = None, announce: bool = True):
        self.bwrap = bwrap
        self.seccomp = seccomp
        self.announce = announce
        self._fds: List[int] = []
        self.why_no_seccomp: Optional[str] = None

    def caps_for(self, argv: Sequence[str]) -> List[str]:
        program = os.path.basename(argv[0]) if argv else ""
        return list(BUILD_CAPS if program in BUILD_PROGRAMS else PACKAGE_CAPS)

    def argv(self, root: str, argv: Sequence[str], seccomp_fd: Optional[int] = None) -> List[str]:
        out = [self.bwrap, "--bind", root, "/",
               "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
               "--hostname", "imsprep-sandbox",
               # bwrap leaves /proc/sys and /proc/sysrq-trigger writable when it runs as root, and uid 0
               # may write most sysctls without any capability (kernel.core_pattern runs a program
               # as host root): the whole /proc is read-only
               "--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev",
               "--die-with-parent", "--new-session",
               "--cap-drop", "ALL"]
        for cap in self.caps_for(argv):
            out += ["--cap-add", cap]
        if seccomp_fd is not None:
            out += ["--seccomp", str(seccomp_fd)]
        out += ["--setenv", "PATH", GUEST_PATH, "--chdir", "/", "--"]
        return out + [str(a) for a in argv]

    def __call__(self, root: str, argv: List[str]) -> List[str]:
        fd = None
        if self.seccomp is not None:
            read_fd, write_fd = os.pipe()
            try:
                os.write(write_fd, self.seccomp)  # a few KiB: fits in the pipe buffer
            finally:
                os.close(write_fd)
            os.set_inheritable(read_fd, True)
            self._fds.append(read_fd)
            fd = read_fd
        if self.announce and not _ANNOUNCED:
            _ANNOUNCED.append(True)  # once per imsprep run, however many plans and sandboxes it makes
            self.say(argv)
        return self.argv(root, argv, fd)

    def take_fds(self) -> List[int]:
        fds, self._fds = self._fds, []
        return fds

    def describe(self) -> str:
        return ("own PID, mount, IPC, UTS and network namespaces; only the guest tree visible; no capabilities for "
                "generators; %s; killed as a whole when the step ends or imsprep exits"
                % ("seccomp filter (%d syscalls refused)" % len(DENIED_SYSCALLS) if self.seccomp
                   else "no seccomp filter (%s)" % (self.why_no_seccomp or "none loaded")))

    def say(self, argv: Sequence[str]) -> None:
        try:
            sys.stderr.write("imsprep: running the guest's %s in a sandbox (bubblewrap): %s\n"
                             % (os.path.basename(argv[0]) if argv else "programs", self.describe()))
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


GUEST_CODE_ACTIONS = {"rebuild-initramfs", "depmod", "remove-suite", "regenerate-grub"}


PROBE = "/proc/self/imsprep-probe"  # under the sandbox's own /proc: a guest cannot plant a program there


def missing_bwrap_message() -> str:
    return ("the guest's own programs (initramfs generator and hooks, depmod, package scripts) run only in a sandbox, and "
            "bubblewrap is not installed on this machine: install bubblewrap (apt-get install bubblewrap, dnf install "
            "bubblewrap, zypper install bubblewrap) and run imsprep again")


def make_sandbox(system: System) -> Sandbox:
    """A working sandbox for ``system``'s root, or UserError naming what to install. The probe
    sets the whole sandbox up (filter included) and then fails to exec a path that cannot
    exist, so it runs none of the guest's code."""
    bwrap = system.host_which(BWRAP)
    if bwrap is None:
        raise UserError(missing_bwrap_message())
    seccomp, why_not = seccomp_program()
    sandbox = Sandbox(bwrap, seccomp, announce=False)
    sandbox.why_no_seccomp = why_not
    previous = system.isolate
    system.isolate = sandbox
    try:
        probe = system.run([PROBE], timeout=60)
    finally:
        system.isolate = previous
    if not (probe.ok or ("execvp" in probe.stderr and PROBE in probe.stderr)):
        raise UserError("bubblewrap cannot create a sandbox on this machine (%s); the guest's programs are never run "
                        "outside one" % (probe.stderr.strip()[-300:] or "exit %d" % probe.rc))
    sandbox.announce = True
    return sandbox


class _Refuse:
    """Stands in for the sandbox when none can be made: the first guest command refuses."""

    def __init__(self, error: UserError):
        self.error = error

    def __call__(self, root: str, argv: List[str]) -> List[str]:
        raise UserError(str(self.error))


@contextlib.contextmanager
def guest_sandbox(system: System, actions: Optional[Sequence[object]] = None) -> Iterator[None]:
    """Within this block, the guest's commands run in the sandbox. Live: nothing changes (the
    system's own programs run normally, each in a session of its own). ``actions``: the plan
    about to run; when one of them runs guest code and no sandbox can be made, refuse before
    any change. Without it, the first guest command refuses."""
    if system.live:
        yield
        return
    for path in ("/proc", "/dev"):  # mount points bwrap needs in the guest tree
        if not system.is_dir(path) and not system.exists(path):
            system.makedirs(path)
    try:
        hook = make_sandbox(system)  # type: object
    except UserError as exc:
        if actions is not None and any(getattr(a, "kind", None) in GUEST_CODE_ACTIONS for a in actions):
            raise UserError("%s; nothing was changed" % exc) from None
        hook = _Refuse(exc)
    previous = system.isolate
    system.isolate = hook  # type: ignore[assignment]
    try:
        yield
    finally:
        system.isolate = previous


guest_mounts = guest_sandbox  # the old name (imsprep.fix.chroot)
