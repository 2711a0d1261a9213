"""imsprep seal on a real Debian bookworm guest with cloud-init (tests/guests.py cloud_guest), made
to look lived-in, sealed offline with --root; and cloud-init's own `cloud-init clean` running
imsprep's clean.d hook inside that guest."""

import hashlib
import os
import shutil
import subprocess
import sys
import time

import guests
import pytest
from conftest import REPO, check_json, run_imsprep

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, mounts)")]

LEASE = """lease {
  interface "enp0s2";
  fixed-address 10.0.2.15;
  option subnet-mask 255.255.255.0;
  option routers 10.0.2.2;
  option dhcp-lease-time 86400;
  renew 1 2026/11/30 12:00:00;
}
"""


def sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def put(root, guest_path, content, mode=0o644):
    """A new file in the clone (never writing through a hard link into the cached guest)."""
    path = os.path.join(root, guest_path.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "wb") as fh:
        fh.write(content.encode() if isinstance(content, str) else content)
    os.chmod(path, mode)
    return path


def imsprep_fix_run(root):
    """A fix run's state made by imsprep's own journal code: a journal, a backup, the change log,
    the generator scratch space and the lock, as `imsprep fix` leaves them."""
    sys.path.insert(0, REPO)
    from imsprep.fix.journal import Journal, Lock
    from imsprep.system import System

    system = System(root)
    with Lock(system, "fix"):
        journal = Journal.create(system)
        journal.backup_file("/etc/fstab", "e2e: a change to roll back")
        journal.log("e2e fix run")
        journal.append({"op": "end"})
    system.makedirs("/var/lib/imsprep/tmp/mkinitramfs_e2e")
    system.write_atomic("/var/lib/imsprep/tmp/mkinitramfs_e2e/init", b"#!/bin/sh\n")
    system.write_atomic("/var/cache/imsprep/initramfs-1/0123.json", b"{}")  # a live check's listing cache
    return journal.run_id


def live_in(root):
    """Logins, apt runs, a DHCP lease, SSH host keys, a cloud-init first boot, an imsprep fix."""
    put(root, "/etc/passwd", open(os.path.join(root, "etc/passwd")).read() +
        "debian:x:1000:1000:Debian:/home/debian:/bin/bash\n")
    put(root, "/root/.bash_history", "apt-get update\nimsprep fix --yes\n", 0o600)
    put(root, "/home/debian/.bash_history", "sudo -i\n", 0o600)
    put(root, "/home/debian/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e debian@laptop\n", 0o600)
    put(root, "/var/log/syslog", "Nov 30 12:00:01 old-host systemd[1]: Startup finished\n", 0o640)
    put(root, "/var/log/syslog.1", "Nov 29 12:00:01 old-host CRON[1]: rotated\n", 0o640)
    put(root, "/var/log/auth.log.2.gz", b"\x1f\x8b\x08\x00old", 0o640)
    put(root, "/var/log/apt/history.log.1.gz", b"\x1f\x8b\x08\x00old")
    put(root, "/var/log/journal/4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f/system.journal", b"LPKSHHRH" + b"\x00" * 4096, 0o640)
    put(root, "/var/log/journal/4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f/system@0005f2-1.journal~", b"LPKSHHRH" + b"\x00" * 4096, 0o640)
    put(root, "/var/log/wtmp", b"\x07\x00\x00\x00" * 96, 0o664)
    put(root, "/var/log/lastlog", b"\x00" * 292, 0o664)
    put(root, "/etc/machine-id", "4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f\n", 0o444)
    put(root, "/var/lib/dhcp/dhclient.enp0s2.leases", LEASE)
    put(root, "/etc/udev/rules.d/70-persistent-net.rules",
        'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n')
    for kind in ("rsa", "ecdsa", "ed25519"):
        key = os.path.join(root, "etc/ssh/ssh_host_%s_key" % kind)
        os.makedirs(os.path.dirname(key), exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", kind, "-C", "root@old-host", "-f", key], check=True)
    instance = "/var/lib/cloud/instances/iid-old-host"
    put(root, instance + "/obj.pkl", b"\x80\x04\x95")
    put(root, instance + "/datasource", "DataSourceNoCloud: DataSourceNoCloud [seed=/dev/vdb][dsmode=net]\n")
    put(root, instance + "/sem/config_ssh", "")
    put(root, instance + "/user-data.txt", "#cloud-config\n")
    os.symlink(instance, os.path.join(root, "var/lib/cloud/instance"))
    put(root, "/var/lib/cloud/data/instance-id", "iid-old-host\n")
    put(root, "/var/lib/cloud/data/status.json", '{"v1": {"datasource": "DataSourceNoCloud"}}\n')
    put(root, "/var/lib/cloud/seed/nocloud/meta-data", "instance-id: iid-seed\n")
    put(root, "/var/log/cloud-init.log", "Cloud-init v. 22.4.2 running 'init' at Mon, 30 Nov 2026\n", 0o640)
    put(root, "/var/log/cloud-init-output.log", "Cloud-init v. 22.4.2 finished\n", 0o640)
    put(root, "/tmp/apt-dpkg-install-x/00-nginx.deb", b"!<arch>\n")
    put(root, "/var/lib/systemd/random-seed", os.urandom(512), 0o600)
    return imsprep_fix_run(root)


@pytest.fixture
def lived_in(tmp_path):
    source = guests.cloud_guest()
    root = guests.clone_guest(source, str(tmp_path / "guest"))
    run_id = live_in(root)
    return source, root, run_id


def test_offline_seal_of_a_lived_in_cloud_guest(lived_in, tmp_path):
    source, root, run_id = lived_in
    g = lambda path: os.path.join(root, path.lstrip("/"))  # noqa: E731
    # files that exist in the cached guest and are hard-linked into the clone
    shared = [p for p in ("/var/log/dpkg.log", "/var/log/apt/history.log", "/var/log/alternatives.log",
                          "/var/cache/apt/pkgcache.bin") if os.path.isfile(os.path.join(source, p.lstrip("/")))]
    assert shared, "the cached guest has no logs to share"
    cache_hashes = {p: sha(os.path.join(source, p.lstrip("/"))) for p in shared}
    protected = ["/etc/passwd", "/etc/fstab", "/var/lib/dpkg/status", "/etc/cloud/cloud.cfg", "/etc/ssh/ssh_config"]
    protected = [p for p in protected if os.path.isfile(g(p))]
    protected_hashes = {p: sha(g(p)) for p in protected}

    report, _ = check_json(root)
    pending = next(f for f in report["findings"] if f["code"] == "SEAL_PENDING")
    assert not pending["blocking"] and "imsprep-state" in pending["message"]

    # a fix run that can still be rolled back: refused without --end-rollback
    proc = run_imsprep("seal", "--root", root, "--yes", check_rc=2)
    assert run_id in proc.stderr.decode()

    dry = run_imsprep("seal", "--root", root, "--dry-run", check_rc=0).stdout.decode()
    log = str(tmp_path / "seal.log")
    started = time.monotonic()
    proc = run_imsprep("seal", "--root", root, "--yes", "--end-rollback", "--log", log, check_rc=0)
    seconds = time.monotonic() - started
    out = proc.stdout.decode()
    assert "0 failed" in out, out[-3000:]
    sys.stdout.write("\nseal offline of the lived-in cloud guest: %.2fs, %d lines logged\n"
                     % (seconds, sum(1 for _ in open(log)) - 1))

    with open(log) as fh:
        logged = [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]
    assert logged
    for _op, action, path in logged:
        if action == "removed":
            assert not os.path.lexists(g(path)), path
        elif action == "emptied":
            assert os.path.isfile(g(path)) and os.path.getsize(g(path)) == 0, path
    removed = {path for _, action, path in logged if action == "removed"}
    emptied = {path for _, action, path in logged if action == "emptied"}
    for path in ("/root/.bash_history", "/home/debian/.bash_history", "/var/log/syslog.1", "/var/log/auth.log.2.gz",
                 "/var/lib/dhcp/dhclient.enp0s2.leases", "/etc/udev/rules.d/70-persistent-net.rules",
                 "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key.pub", "/var/lib/cloud/instance",
                 "/var/lib/cloud/instances/iid-old-host/obj.pkl", "/var/log/cloud-init.log",
                 "/var/lib/imsprep/runs/%s/journal.jsonl" % run_id, "/var/lib/imsprep/runs/%s/backup/etc/fstab" % run_id,
                 "/var/lib/imsprep/tmp/mkinitramfs_e2e/init", "/var/cache/imsprep/initramfs-1/0123.json",
                 "/var/log/imsprep/changes.log", "/var/lib/systemd/random-seed",
                 "/var/log/journal/4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f/system.journal",
                 "/tmp/apt-dpkg-install-x/00-nginx.deb"):
        assert path in removed, path
        assert not os.path.lexists(g(path)), path
        assert path in dry, path  # the dry run listed it
    for path in ["/var/log/syslog", "/var/log/wtmp", "/var/log/lastlog", "/etc/machine-id"] + \
            [p for p in shared if p.startswith("/var/log/")]:
        assert path in emptied, path
    # what services need stays: directories, the seed, package lists, configuration
    for path in ("/var/log", "/var/log/apt", "/var/log/journal/4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f", "/var/lib/cloud",
                 "/var/lib/cloud/seed/nocloud/meta-data", "/etc/machine-id", "/var/lib/dhcp", "/etc/ssh",
                 "/var/cache/apt/archives"):
        assert os.path.exists(g(path)), path
    assert os.stat(g("/tmp")).st_mode & 0o1777 == 0o1777
    assert os.stat(g("/etc/machine-id")).st_mode & 0o777 == 0o444
    assert os.path.getsize(g("/home/debian/.ssh/authorized_keys")) > 0  # authorized-keys is off by default
    for path, digest in protected_hashes.items():
        assert sha(g(path)) == digest, path
    # the cached guest, hard-linked into the clone, is untouched
    for path, digest in cache_hashes.items():
        assert sha(os.path.join(source, path.lstrip("/"))) == digest, path
    assert not os.path.exists(g("/var/log/imsprep/seal.log"))

    report, _ = check_json(root)
    assert "SEAL_PENDING" not in [f["code"] for f in report["findings"]], \
        [f["message"] for f in report["findings"] if f["code"] == "SEAL_PENDING"]
    again = run_imsprep("seal", "--root", root, "--yes", check_rc=0).stdout.decode()
    assert "nothing to seal" in again


def test_cloud_init_clean_runs_the_imsprep_hook(lived_in):
    """The guest's own `cloud-init clean --logs` (cloud-init 22.4.2) runs /etc/cloud/clean.d/99-imsprep,
    which removes imsprep's state."""
    _source, root, run_id = lived_in
    g = lambda path: os.path.join(root, path.lstrip("/"))  # noqa: E731
    assert os.path.isdir(g("/etc/cloud/clean.d")), "this cloud-init has no clean.d"
    put(root, "/etc/cloud/clean.d/99-imsprep", open(os.path.join(REPO, "packaging/cloud-init/imsprep-clean")).read(), 0o755)
    assert os.path.isdir(g("/var/lib/imsprep/runs/%s" % run_id))
    with guests.chroot_mounts(root):
        proc = subprocess.run(["chroot", root, "cloud-init", "clean", "--logs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path in ("/var/lib/imsprep/runs", "/var/lib/imsprep/tmp", "/var/lib/imsprep/lock", "/var/cache/imsprep",
                 "/var/log/imsprep/changes.log", "/var/lib/cloud/instance", "/var/lib/cloud/instances", "/var/log/cloud-init.log"):
        assert not os.path.lexists(g(path)), path
    assert os.path.exists(g("/var/lib/cloud/seed/nocloud/meta-data"))
    assert os.path.exists(g("/etc/cloud/clean.d/99-imsprep"))
    # an imsprep run holding the lock keeps its state
    run_id = imsprep_fix_run(root)
    holder = subprocess.Popen(["flock", g("/var/lib/imsprep/lock"), "sleep", "30"])
    try:
        time.sleep(0.5)
        with guests.chroot_mounts(root):
            proc = subprocess.run(["chroot", root, "/etc/cloud/clean.d/99-imsprep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=60)
    finally:
        holder.terminate()
        holder.wait()
    assert proc.returncode == 0 and "holds" in proc.stderr, proc.stderr
    assert os.path.isdir(g("/var/lib/imsprep/runs/%s" % run_id))


def test_live_code_path_inside_the_guest(lived_in):
    """`imsprep seal` run by the guest's own python3 inside a chroot of the guest: System sees "/" as
    the live system, so the live paths run for real: the guest's `cloud-init clean --logs` (which
    runs the clean.d hook), in-place truncation, the lock. Not a booted system: journald is not
    running there, so its files are removed directly (a booted guest is the lead's QEMU test)."""
    _source, root, run_id = lived_in
    g = lambda path: os.path.join(root, path.lstrip("/"))  # noqa: E731
    import distro
    import sh

    opt = g("/opt/imsprep-test")
    for name in ("imsprep", "checks", "templates"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(opt, name), ignore=shutil.ignore_patterns("__pycache__"))
    for module in (sh, distro):
        source = module.__file__
        if os.path.basename(source) == "__init__.py":
            shutil.copytree(os.path.dirname(source), os.path.join(opt, module.__name__),
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, os.path.join(opt, os.path.basename(source)))
        site = os.path.dirname(os.path.dirname(source)) if source.endswith("__init__.py") else os.path.dirname(source)
        for info in os.listdir(site):  # the metadata: sh reads its version from it
            if info.lower().startswith(module.__name__ + "-") and info.endswith(".dist-info"):
                shutil.copytree(os.path.join(site, info), os.path.join(opt, info))
    put(root, "/etc/cloud/clean.d/99-imsprep", open(os.path.join(REPO, "packaging/cloud-init/imsprep-clean")).read(), 0o755)
    syslog_inode = os.stat(g("/var/log/syslog")).st_ino
    argv = ["chroot", root, "env", "PYTHONPATH=/opt/imsprep-test", "IMSPREP_DATA_DIR=/opt/imsprep-test",
            "python3", "-m", "imsprep", "seal", "--yes", "--end-rollback"]
    with guests.chroot_mounts(root):
        dry = subprocess.run(argv[:-2] + ["--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert "plan for the running system" in dry.stdout
        assert "run       cloud-init clean --logs" in dry.stdout
        started = time.monotonic()
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
        seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 failed" in proc.stdout
    sys.stdout.write("\nseal through the live code path in a chroot of the guest: %.2fs\n" % seconds)
    for path in ("/root/.bash_history", "/var/lib/cloud/instance", "/var/lib/cloud/instances", "/var/lib/cloud/data",
                 "/var/log/cloud-init.log", "/etc/ssh/ssh_host_ed25519_key", "/var/lib/imsprep/runs", "/var/lib/imsprep/lock",
                 "/var/lib/dhcp/dhclient.enp0s2.leases", "/var/log/syslog.1",
                 "/var/log/journal/4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f/system.journal"):
        assert not os.path.lexists(g(path)), path
    assert os.path.exists(g("/var/lib/cloud/seed/nocloud/meta-data"))
    assert os.path.getsize(g("/var/log/syslog")) == 0 and os.stat(g("/var/log/syslog")).st_ino == syslog_inode
    assert os.path.getsize(g("/etc/machine-id")) == 0
    assert os.path.getsize(g("/var/log/imsprep/seal.log")) == 0  # written, then emptied last
