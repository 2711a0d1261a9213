"""The sandbox's command line, the refusal without bubblewrap, and signal handling (fast tests;
the sandbox against hostile guests for real is tests/test_e2e_sandbox.py)."""

import os
import random
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO
from test_check_fake import debian_guest
from test_fix_plan import SLES11_KERNEL, plan_for, sles11_guest

from imsprep.errors import UserError
from imsprep.fix import sandbox as sandbox_mod
from imsprep.fix.chroot import guest_mounts
from imsprep.fix.runner import apply_plan, start_run
from imsprep.fix.sandbox import PACKAGE_CAPS, Sandbox, guest_sandbox, seccomp_program
from imsprep.system import GUEST_PATH, System

NEVER_GRANTED = ["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_MKNOD",
                 "CAP_DAC_READ_SEARCH", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_BPF", "CAP_SETPCAP"]


def pairs(argv):
    return list(zip(argv, argv[1:]))


def test_sandbox_argv_for_a_generator():
    argv = Sandbox("/usr/bin/bwrap").argv("/srv/guest", ["mkinitramfs", "-o", "/boot/x.imsprep-new", "6.1.0-50-amd64"])
    assert argv[0] == "/usr/bin/bwrap"
    assert argv[1:4] == ["--bind", "/srv/guest", "/"]  # the guest tree is /, nothing of the host's is bound
    assert [a for a in argv if a in ("--bind", "--ro-bind", "--dev-bind")] == ["--bind"]
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session"):
        assert flag in argv
    ps = pairs(argv)
    assert ("--proc", "/proc") in ps and ("--remount-ro", "/proc") in ps and ("--dev", "/dev") in ps
    assert argv.index("--remount-ro") > argv.index("--proc")
    assert "/sys" not in argv  # neither the host's sysfs nor a fresh one
    assert ("--cap-drop", "ALL") in ps and "--cap-add" not in argv  # a generator needs no capability
    assert ("--setenv", "PATH") in ps and GUEST_PATH in argv
    assert "--seccomp" not in argv
    sep = argv.index("--")
    assert argv[sep + 1:] == ["mkinitramfs", "-o", "/boot/x.imsprep-new", "6.1.0-50-amd64"]


def test_sandbox_argv_for_a_package_manager_keeps_only_file_capabilities():
    argv = Sandbox("bwrap").argv("/g", ["dpkg", "--purge", "uvp-monitor"])
    added = [b for a, b in pairs(argv[:argv.index("--")]) if a == "--cap-add"]
    assert added == PACKAGE_CAPS
    assert not set(added) & set(NEVER_GRANTED)
    assert argv.index("--cap-drop") < argv.index("--cap-add")  # bwrap applies them in order


def test_sandbox_hands_over_the_seccomp_filter_once_per_command(capsys, monkeypatch):
    monkeypatch.setattr(sandbox_mod, "_ANNOUNCED", [])
    program = b"\x06\x00\x00\x00\x00\x00\xff\x7f"  # one BPF instruction: RET ALLOW
    sb = Sandbox("bwrap", seccomp=program)
    argv = sb("/g", ["depmod", "-a", "6.1.0-50-amd64"])
    (fd,) = sb.take_fds()
    assert ("--seccomp", str(fd)) in pairs(argv)
    assert os.get_inheritable(fd)
    assert os.read(fd, 100) == program and os.read(fd, 100) == b""
    os.close(fd)
    assert sb.take_fds() == []
    sb("/g", ["dracut", "-f"])
    other = Sandbox("bwrap", seccomp=program)  # a second plan's sandbox in the same run
    other("/g", ["dpkg", "--purge", "x"])
    for fd in sb.take_fds() + other.take_fds():
        os.close(fd)
    err = capsys.readouterr().err
    assert err.count("in a sandbox (bubblewrap)") == 1 and "running the guest's depmod" in err


def test_seccomp_filter_is_built_from_the_hosts_libseccomp():
    program, why_not = seccomp_program()
    if program is None:
        pytest.skip("no libseccomp here: %s" % why_not)
    assert len(program) % 8 == 0 and len(program) > 8 * len(sandbox_mod.DENIED_SYSCALLS) // 2


def test_no_guest_command_runs_outside_a_sandbox_under_root(tmp_path):
    guest, _ = debian_guest(tmp_path / "g")
    guest.write("/bin/true", "#!/bin/sh\ntouch /ran\n", mode=0o755)
    system = System(guest.root)
    result = system.run(["/bin/true"])
    assert result.rc == 126 and "outside a sandbox" in result.stderr
    assert not os.path.exists(guest.path("/ran"))
    assert guest_mounts is guest_sandbox  # the old import path keeps working


def test_fix_refuses_before_any_change_without_bubblewrap(tmp_path, monkeypatch):
    guest, _ = sles11_guest(tmp_path / "g")
    system, _facts, plan = plan_for(guest.root)
    assert [a.kind for a in plan.actions] == ["edit-file", "rebuild-initramfs"]
    real_which = System.host_which
    monkeypatch.setattr(System, "host_which", lambda self, name: None if name == "bwrap" else real_which(self, name))
    journal = start_run(system, progress=lambda m: None)
    with pytest.raises(UserError) as err:
        apply_plan(system, plan, journal, progress=lambda m: None)
    assert "install bubblewrap" in str(err.value) and "nothing was changed" in str(err.value)
    with open(guest.path("/etc/sysconfig/kernel")) as fh:
        assert fh.read() == SLES11_KERNEL
    assert [c for c in system.commands_run if "mkinitrd" in c.argv or "chroot" in c.argv] == []


def test_plan_without_guest_code_needs_no_bubblewrap(tmp_path, monkeypatch):
    guest, _ = debian_guest(tmp_path / "g")
    guest.write("/etc/modprobe.d/pv.conf", "blacklist xen_blkfront\n")
    system, _facts, plan = plan_for(guest.root)
    assert [a.kind for a in plan.actions] == ["edit-file"]
    real_which = System.host_which
    monkeypatch.setattr(System, "host_which", lambda self, name: None if name == "bwrap" else real_which(self, name))
    journal = start_run(system, progress=lambda m: None)
    outcome = apply_plan(system, plan, journal, progress=lambda m: None)
    assert outcome.failed == [] and len(outcome.done) == 1
    with guest_sandbox(system):  # bubblewrap missing: the first guest command refuses, with the same advice
        with pytest.raises(UserError) as err:
            system.run(["depmod", "-a"])
    assert "install bubblewrap" in str(err.value)


SIGNAL_SCRIPT = textwrap.dedent("""
    import argparse, os, signal, sys, threading
    sys.path.insert(0, sys.argv[1])
    from imsprep import signals
    from imsprep.fix.journal import Journal
    from imsprep.system import System
    token, root = sys.argv[2], sys.argv[3]
    signals.install()
    journal = Journal.create(System(root))
    threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    script = "(setsid sleep 61.%s < /dev/null > /dev/null 2>&1 &); sleep 62.%s & sleep 63.%s" % (token, token, token)
    try:
        System("/").run(["sh", "-c", script], timeout=100)
        print("not interrupted")
    except KeyboardInterrupt as exc:
        args = argparse.Namespace(command="fix", root=root, dry_run=False)
        sys.exit(signals.interrupted(exc, args))
""")


def sleepers(token):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as fh:
                    if token.encode() in fh.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def test_sigterm_kills_the_whole_tree_of_a_live_command_and_notes_the_journal(tmp_path):
    token = "%06d" % random.randrange(10 ** 6)
    root = tmp_path / "g"
    root.mkdir()
    proc = subprocess.run([sys.executable, "-c", SIGNAL_SCRIPT, REPO, token, str(root)],  # noqa: UP022 - Python 3.6
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)  # noqa: UP021
    try:
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert "interrupted by SIGTERM" in proc.stderr and "imsprep rollback --root %s" % root in proc.stderr
        assert "Traceback" not in proc.stderr
        assert sleepers(token) == []  # the command, its background child and the daemonised orphan
        (run,) = os.listdir(str(root / "var/lib/imsprep/runs"))
        with open(str(root / "var/lib/imsprep/runs" / run / "journal.jsonl")) as fh:
            assert '"op": "interrupted"' in fh.read()
    finally:
        for pid in sleepers(token):
            os.kill(pid, 9)


def test_a_timeout_kills_the_whole_tree(tmp_path):
    token = "%06d" % random.randrange(10 ** 6)
    script = "sleep 64.%s & sleep 65.%s" % (token, token)
    try:
        result = System("/").run(["sh", "-c", script], timeout=2)
        assert result.rc == 124 and "timed out after 2s" in result.stderr
        assert sleepers(token) == []
    finally:
        for pid in sleepers(token):
            os.kill(pid, 9)
