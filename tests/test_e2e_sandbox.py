"""The guest's code under --root: `check` never runs any of it; `fix` runs it only in the
bubblewrap sandbox, where hostile hooks reach nothing on the host; SIGTERM kills the whole tree.

Every hostile program here first *tries* its attack and records what happened inside the guest
(under /hostile); the test then looks for the effects on the host and asserts there are none.
The attacks that would change host state if they worked are harmless by construction (a marker
file the test removes, a sysctl written with its own current value, a disk only read)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import guests
import pytest
from conftest import REPO, check_json, run_imsprep

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap") or not shutil.which("bwrap"),
                                 reason="needs root, debootstrap and bubblewrap (tests/setup-deps.sh installs them)")]


def write_new(path, data, mode=0o644):
    """Create or replace ``path`` (never modifying a file hard-linked with the cache)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".imsprep-test-new"
    with open(tmp, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def processes_in(root):
    """Pids of live processes whose root directory is ``root`` (chroot or sandbox alike)."""
    want = os.stat(root)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            st = os.stat("/proc/%s/root" % name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
            found.append(int(name))
    return found


def popen_imsprep(args, env=None):
    full_env = dict(os.environ, PYTHONPATH=REPO, NO_COLOR="1")
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "imsprep"] + [str(a) for a in args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# ----------------------------------------------------------------------------- check runs nothing
GUEST_PROGRAMS = ["usr/bin/lsinitramfs", "usr/sbin/lsinitramfs", "usr/bin/lsinitrd", "usr/bin/unmkinitramfs",
                  "usr/bin/cpio", "usr/bin/zstd", "usr/bin/gzip", "usr/bin/zcat", "usr/bin/xz", "usr/bin/lz4",
                  "usr/sbin/chroot", "usr/bin/systemd-detect-virt", "usr/bin/rpm", "usr/sbin/blkid", "usr/bin/kmod"]


def test_check_under_root_runs_no_guest_program_and_says_unreadable(tmp_path):
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    kver = guests.kver_of(root)
    token = uuid.uuid4().hex
    marker = "imsprep-guest-ran-" + token
    script = "#!/bin/sh\necho \"$0 $*\" >> /%s\necho \"$0 $*\" >> /tmp/%s\nexit 0\n" % (marker, marker)
    for path in GUEST_PROGRAMS:
        write_new(os.path.join(root, path), script, 0o755)
    # a few random bytes after a gzip magic: the native reader cannot read it
    write_new(os.path.join(root, "boot", "initrd.img-" + kver), b"\x1f\x8b\x08\x00" + os.urandom(8192), 0o644)
    try:
        report, rc = check_json(root)
        assert rc == 1 and not report["verdict"]["kvm"]["ready"] and not report["verdict"]["xen"]["ready"]
        assert "unreadable" in json.dumps(report)
        for place in (root, os.path.join(root, "tmp"), "/", "/tmp"):
            assert not os.path.exists(os.path.join(place, marker)), "a guest program ran: %s" % place
    finally:
        for place in ("/", "/tmp"):
            if os.path.exists(os.path.join(place, marker)):
                os.unlink(os.path.join(place, marker))


# ----------------------------------------------------------------------------- hostile hooks
HOSTILE = r"""
. /etc/imsprep-hostile.conf
out=/hostile
mkdir -p $out
for p in /proc/[0-9]*; do
    echo "$p $(cat $p/cmdline 2>/dev/null | tr '\0' ' ')" >> $out/pids
    if echo escaped > "$p/root/imsprep-escape-$TOKEN" 2>/dev/null; then echo "$p" >> $out/wrote-via-proc-root; fi
    cat "$p/root/etc/shadow" >> $out/shadow-via-proc 2>/dev/null
    cat "$p/root$SECRET_FILE" >> $out/secret-via-proc 2>/dev/null
    cat "$p/environ" >> $out/environ 2>/dev/null
done
cat "$SECRET_FILE" >> $out/secret-direct 2>/dev/null
env > $out/env
cat /proc/self/status > $out/status
mount -t tmpfs imsprep-hostile-$TOKEN /mnt > $out/mount.out 2>&1; echo $? > $out/mount.rc
unshare -U -r true > $out/unshare.out 2>&1; echo $? > $out/unshare.rc
(cat /proc/sys/kernel/core_pattern > /proc/sys/kernel/core_pattern) > $out/sysctl.out 2>&1; echo $? > $out/sysctl.rc
mknod /hostile-disk b $DISK_MAJOR $DISK_MINOR > $out/mknod.out 2>&1; echo $? > $out/mknod.rc
head -c 4096 /hostile-disk > $out/disk 2>/dev/null; rm -f /hostile-disk
perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 5) ? 0 : 1)' "$PORT"
echo $? > $out/net.rc
setsid sh -c 'i=0; while [ $i -lt 40 ]; do sleep 1; i=$((i+1)); echo $i >> /hostile/survivor-ticks;
    for p in /proc/[0-9]*; do echo survived > "$p/root/imsprep-survivor-'$TOKEN'"; done; done' < /dev/null > /dev/null 2>&1 &
echo $! > $out/survivor.pid
"""


class Listener:
    """A TCP listener on the host's 127.0.0.1 that counts connections."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def hostile_setup(root, tmp_path):
    token = uuid.uuid4().hex
    secret_file = str(tmp_path / ("host-secret-" + token))
    secret_content = "host-only-secret-" + uuid.uuid4().hex
    with open(secret_file, "w") as fh:
        fh.write(secret_content)
    os.chmod(secret_file, 0o600)
    listener = Listener()
    dev = os.stat("/").st_dev
    write_new(os.path.join(root, "etc", "imsprep-hostile.conf"),
              "TOKEN=%s\nSECRET_FILE=%s\nPORT=%d\nDISK_MAJOR=%d\nDISK_MINOR=%d\n"
              % (token, secret_file, listener.port, os.major(dev), os.minor(dev)))
    return token, secret_file, secret_content, listener


def hostile_assertions(root, tmp_path, token, secret_content, env_secret, listener, proc_out, mounts_before):
    out = os.path.join(root, "hostile")
    assert os.path.isfile(os.path.join(out, "status")), "the hostile hook did not run: " + proc_out
    # it ran in the sandbox: no capabilities, no new privileges, a seccomp filter
    with open(os.path.join(out, "status")) as fh:
        status = dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
    assert int(status["CapEff"].strip(), 16) == 0 and int(status["CapPrm"].strip(), 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"

    def read(name):
        path = os.path.join(out, name)
        if not os.path.exists(path):
            return b""
        with open(path, "rb") as fh:
            return fh.read()

    # nothing written on the host through /proc/*/root (imsprep's and init's among them)
    assert not os.path.exists("/imsprep-escape-" + token)
    assert not os.path.exists(os.path.join(str(tmp_path), "imsprep-escape-" + token))
    # the processes it could see are its own sandbox's only
    pids = read("pids").decode(errors="replace")
    lines = pids.splitlines()
    assert lines[0].split()[1].endswith("bwrap"), pids  # pid 1: the sandbox's own init
    assert [line for line in lines[1:] if "python" in line or "-m imsprep" in line or "pytest" in line] == [], pids
    # no host file read: the test's secret, and the host's shadow where it differs from the guest's
    everything = b"".join(read(name) for name in sorted(os.listdir(out)) if os.path.isfile(os.path.join(out, name)))
    assert secret_content.encode() not in everything
    with open("/etc/shadow", "rb") as fh:
        host_shadow = fh.read()
    with open(os.path.join(root, "etc", "shadow"), "rb") as fh:
        guest_shadow = fh.read()
    if host_shadow != guest_shadow:
        assert host_shadow not in everything
    # not imsprep's environment
    assert env_secret.encode() not in everything
    assert b"IMSPREP_TEST_SECRET" not in everything
    # no mount, no namespace, no sysctl, no device node
    assert read("mount.rc").strip() != b"0"
    assert read("unshare.rc").strip() != b"0"
    assert read("sysctl.rc").strip() != b"0"
    assert read("disk") == b""
    with open("/proc/self/mountinfo") as fh:
        mounts_after = fh.read()
    assert "imsprep-hostile-" + token not in mounts_after
    assert [line for line in mounts_after.splitlines() if root in line] == []
    # no network: the host's listener saw nothing
    assert read("net.rc").strip() != b"0"
    assert listener.connections == 0
    # nothing survived imsprep
    assert processes_in(root) == []


def survivor_ticks(root):
    try:
        with open(os.path.join(root, "hostile", "survivor-ticks")) as fh:
            return fh.read()
    except OSError:
        return ""


def survivor_assertions(root, token, ticks_at_exit):
    """The forked survivor ticks once a second (and tries the host through /proc/*/root) for 40 s:
    while the build runs it may tick; once imsprep has exited, never again."""
    time.sleep(25)
    assert processes_in(root) == []
    assert not os.path.exists("/imsprep-survivor-" + token)
    assert survivor_ticks(root) == ticks_at_exit


def cleanup_host_markers(token):
    for path in ("/imsprep-escape-" + token, "/imsprep-survivor-" + token):
        if os.path.exists(path):
            os.unlink(path)


def run_hostile_fix(root, tmp_path, token, listener):
    env_secret = "env-secret-" + uuid.uuid4().hex
    with open("/proc/self/mountinfo") as fh:
        mounts_before = fh.read()
    proc = popen_imsprep(["fix", "--root", root, "--yes", "--format", "json"], env={"IMSPREP_TEST_SECRET": env_secret})
    stdout, stderr = proc.communicate(timeout=1800)
    err = stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert "in a sandbox (bubblewrap)" in err and err.count("in a sandbox (bubblewrap)") == 1, err
    result = json.loads(stdout.decode())
    assert result["applied"]["failed"] == [], result["applied"]
    return env_secret, mounts_before, err


def test_hostile_initramfs_tools_hooks_reach_nothing_on_the_host(tmp_path):
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    guests.break_itools(root)
    token, _secret_file, secret_content, listener = hostile_setup(root, tmp_path)
    write_new(os.path.join(root, "etc", "initramfs-tools", "hooks", "zz-imsprep-hostile"),
              "#!/bin/sh\ncase \"$1\" in prereqs) echo; exit 0;; esac\n" + HOSTILE + "exit 0\n", 0o755)
    try:
        env_secret, mounts_before, err = run_hostile_fix(root, tmp_path, token, listener)
        hostile_assertions(root, tmp_path, token, secret_content, env_secret, listener, err, mounts_before)
        ticks = survivor_ticks(root)
        report, rc = check_json(root)
        assert rc == 0 and report["verdict"]["kvm"]["ready"] and report["verdict"]["xen"]["ready"]
        survivor_assertions(root, token, ticks)
        assert listener.connections == 0
    finally:
        listener.close()
        cleanup_host_markers(token)


def test_hostile_dracut_module_reaches_nothing_on_the_host(tmp_path):
    root = guests.clone_guest(guests.dracut_guest(), str(tmp_path / "guest"))
    guests.break_dracut(root)
    token, _secret_file, secret_content, listener = hostile_setup(root, tmp_path)
    module = os.path.join(root, "usr", "lib", "dracut", "modules.d", "99imsprephostile")
    write_new(os.path.join(module, "module-setup.sh"),
              "#!/bin/bash\ncheck() { return 0; }\ndepends() { return 0; }\ninstall() {\n/bin/sh /usr/lib/dracut/modules.d/"
              "99imsprephostile/hostile.sh\n}\n", 0o755)
    write_new(os.path.join(module, "hostile.sh"), "#!/bin/sh\n" + HOSTILE + "exit 0\n", 0o755)
    try:
        env_secret, mounts_before, err = run_hostile_fix(root, tmp_path, token, listener)
        hostile_assertions(root, tmp_path, token, secret_content, env_secret, listener, err, mounts_before)
        ticks = survivor_ticks(root)
        report, rc = check_json(root)
        assert report["verdict"]["kvm"]["ready"], report["verdict"]
        survivor_assertions(root, token, ticks)
    finally:
        listener.close()
        cleanup_host_markers(token)


# ----------------------------------------------------------------------------- signals
def test_sigterm_during_rebuild_kills_the_generator_and_rollback_works(tmp_path):
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    guests.break_itools(root)
    reference = guests.clone_guest(guests.itools_guest(), str(tmp_path / "reference"))
    guests.break_itools(reference)
    kver = guests.kver_of(root)
    # a hook that takes long enough to be caught in the middle, and forks a straggler
    write_new(os.path.join(root, "etc", "initramfs-tools", "hooks", "zz-imsprep-slow"),
              "#!/bin/sh\ncase \"$1\" in prereqs) echo; exit 0;; esac\n(sleep 30; touch /imsprep-straggler) &\nsleep 60\nexit 0\n",
              0o755)
    proc = popen_imsprep(["fix", "--root", root, "--yes"])
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if any("sleep" in _cmdline(pid) for pid in processes_in(root)):
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    in_guest = processes_in(root)
    assert in_guest, "the generator is not running"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    err = stderr.decode(errors="replace")
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert "interrupted by SIGTERM" in err and "imsprep rollback --root %s" % root in err, err
    assert processes_in(root) == []
    time.sleep(5)
    assert processes_in(root) == []
    assert [n for n in os.listdir(os.path.join(root, "boot")) if n.endswith(".imsprep-new")] == []
    # the journal is closed and says what happened
    runs = os.path.join(root, "var", "lib", "imsprep", "runs")
    (run,) = os.listdir(runs)
    with open(os.path.join(runs, run, "journal.jsonl")) as fh:
        ops = [json.loads(line)["op"] for line in fh if line.strip()]
    assert ops[0] == "begin" and "interrupted" in ops
    run_imsprep("rollback", "--root", root, "--yes", check_rc=0)
    os.unlink(os.path.join(root, "etc", "initramfs-tools", "hooks", "zz-imsprep-slow"))
    assert [d for d in guests.tree_differences(reference, root) if not d.startswith("hostile")] == []
    assert not os.path.exists(os.path.join(root, "imsprep-straggler"))
    assert not os.path.exists(os.path.join(root, "boot", "initrd.img-%s.imsprep-new" % kver))
    report, rc = check_json(root)
    assert rc == 1  # back to the broken state it started from


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
