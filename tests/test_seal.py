"""imsprep seal on fake guest trees: every operation's plan and apply, dry run, --only/--skip,
the refusal while a fix run can be rolled back, the SSH host key decision per mechanism."""

import hashlib
import json
import os
import shutil
import stat
import sys

import pytest
from conftest import check_json, run_imsprep
from fakeguest import FakeGuest, compress, data, make_cpio

from imsprep.seal import NOTE, REMOVE, REMOVE_TREE, RUN, TRUNCATE, Context, build_plan, select
from imsprep.seal.operations import keygen_mechanism
from imsprep.system import System

SEAL = data("seal")
RUN_ID = "20261130T101010-4242"


def tree_state(root):
    """Every entry's type, mode, owner, link target and content hash."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    state[rel] = ("file", st.st_mode, st.st_uid, hashlib.sha256(fh.read()).hexdigest())
            else:
                state[rel] = ("other", st.st_mode)
    return state


def debian(guest, version="12"):
    guest.os_release("debian-pkg_debian-%s" % version)
    guest.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                               "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                               "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
                               "svc:x:998:998:svc:/srv/svc:/bin/sh\n"
                               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    return guest


def fix_run(guest, rolled_back=False):
    entries = [{"op": "begin", "time": 1}, {"op": "file", "path": "/etc/fstab", "existed": True,
                                            "backup": "/var/lib/imsprep/runs/%s/backup/etc/fstab" % RUN_ID},
               {"op": "end"}]
    if rolled_back:
        entries.append({"op": "rolled-back"})
    guest.write("/var/lib/imsprep/runs/%s/journal.jsonl" % RUN_ID, "".join(json.dumps(e) + "\n" for e in entries))
    guest.write("/var/lib/imsprep/runs/%s/backup/etc/fstab" % RUN_ID, "/dev/xvda1 / ext4 defaults 0 1\n")


def lived_in(guest, cloud_init=True):
    """A Debian 12 guest that has been used: logins, apt runs, a DHCP lease, host keys, cloud-init."""
    debian(guest)
    for home in ("/root", "/home/alice", "/srv/svc"):
        guest.write(home + "/.bash_history", "sudo apt install nginx\nssh-keygen\n", mode=0o600)
    guest.write("/home/alice/.python_history", "import os\n")
    guest.write("/home/alice/.local/share/fish/fish_history", "- cmd: ls\n")
    guest.write("/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nza... admin@laptop\n", mode=0o600)
    guest.write("/home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nzb... alice@laptop\n", mode=0o600)
    guest.write("/var/log/syslog", "Nov 30 10:00:01 guest systemd[1]: Started\n", mode=0o640)
    guest.write("/var/log/syslog.1", "old\n")
    guest.write("/var/log/syslog.2.gz", b"\x1f\x8b old")
    guest.write("/var/log/auth.log", "sshd: Accepted publickey for root\n", mode=0o640)
    guest.write("/var/log/apt/history.log", "Start-Date: 2026-11-30\n")
    guest.write("/var/log/apt/eipp.log.xz", b"\xfd7zXZ")
    guest.write("/var/log/dpkg.log", "2026-11-30 status installed nginx\n")
    guest.write("/var/log/messages-20261129", "rotated by date\n")
    guest.write("/var/log/README", "You are looking for the traditional text log files in /var/log\n")
    guest.write("/var/log/empty.log", "")
    guest.write("/var/log/journal/0123456789abcdef0123456789abcdef/system.journal", b"LPKSHHRH" + b"\x00" * 64)
    guest.write("/var/log/journal/0123456789abcdef0123456789abcdef/user-1000.journal", b"LPKSHHRH" + b"\x00" * 64)
    guest.write("/var/log/wtmp", b"\x07\x00" * 192, mode=0o664)
    guest.write("/var/log/btmp", b"\x06\x00" * 192, mode=0o660)
    guest.write("/var/log/lastlog", b"\x00" * 292)
    guest.write("/etc/machine-id", "4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f\n", mode=0o444)
    guest.write("/var/lib/dbus/machine-id", "4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f\n")
    for kind in ("rsa", "ecdsa", "ed25519"):
        guest.write("/etc/ssh/ssh_host_%s_key" % kind, "-----BEGIN OPENSSH PRIVATE KEY-----\n", mode=0o600)
        guest.write("/etc/ssh/ssh_host_%s_key.pub" % kind, "ssh-%s AAAA root@old\n" % kind)
    guest.write("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n")
    install(guest, "debian-12-ssh.service", "/lib/systemd/system/ssh.service")
    guest.write("/var/lib/dhcp/dhclient.eth0.leases", "lease {\n  interface \"eth0\";\n  fixed-address 192.168.1.23;\n}\n")
    guest.write("/var/lib/NetworkManager/internal-7d3f-eth0.lease", "ADDRESS=10.0.0.5\n")
    guest.write("/etc/udev/rules.d/70-persistent-net.rules",
                'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n')
    guest.write("/etc/NetworkManager/system-connections/eth0.nmconnection",
                "[connection]\nid=eth0\ntype=ethernet\n[ethernet]\nmac-address=52:54:00:12:34:56\n[ipv4]\nmethod=auto\n",
                mode=0o600)
    guest.write("/etc/NetworkManager/system-connections/vpn.nmconnection",
                "[connection]\nid=vpn\ntype=wireguard\n[ipv4]\nmethod=manual\n", mode=0o600)
    guest.write("/etc/hostname", "old-instance-42\n")
    guest.write("/var/cache/apt/archives/nginx_1.22.1-9_amd64.deb", b"!<arch>\n")
    guest.write("/var/cache/apt/archives/lock", "")
    os.makedirs(guest.path("/var/cache/apt/archives/partial"), exist_ok=True)
    guest.write("/var/cache/apt/pkgcache.bin", b"\x00" * 32)
    guest.write("/var/lib/apt/lists/deb_dists_bookworm_InRelease", "Origin: Debian\n")
    guest.write("/tmp/build.log", "x")
    guest.write("/tmp/work/partial.tar", "x")
    guest.write("/var/tmp/systemd-private-abc-chrony.service-XYZ/tmp/f", "x")
    guest.write("/var/crash/_usr_bin_app.0.crash", "ProblemType: Crash\n")
    guest.write("/var/lib/systemd/coredump/core.app.1000.zst", b"core")
    guest.write("/var/lib/systemd/random-seed", os.urandom(32), mode=0o600)
    fix_run(guest)
    guest.write("/var/lib/imsprep/tmp/mkinitramfs_x/init", "x")
    guest.write("/var/lib/imsprep/lock", "")
    guest.write("/var/log/imsprep/changes.log", "2026-11-30 imsprep[x]: rebuilt /boot/initrd.img\n")
    if cloud_init:
        install(guest, "debian-12-cloud.cfg", "/etc/cloud/cloud.cfg")
        guest.executable("/usr/bin/cloud-init")
        guest.write("/var/lib/cloud/instances/iid-old/obj.pkl", b"\x80\x04")
        guest.write("/var/lib/cloud/instances/iid-old/sem/config_ssh", "")
        guest.symlink("/var/lib/cloud/instance", "/var/lib/cloud/instances/iid-old")
        guest.write("/var/lib/cloud/data/instance-id", "iid-old\n")
        guest.write("/var/lib/cloud/seed/nocloud/meta-data", "instance-id: iid-old\n")
        guest.write("/var/lib/cloud/scripts/per-instance/imsprep", "#!/bin/sh\n", mode=0o755)
        guest.write("/var/log/cloud-init.log", "Cloud-init v. 22.4.2 running 'init'\n")
        guest.write("/var/log/cloud-init-output.log", "Cloud-init v. 22.4.2 finished\n")
    return guest


def seal(root, *args, rc=0):
    proc = run_imsprep("seal", "--root", root, *args, check_rc=rc)
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    return proc.stdout.decode(), proc.stderr.decode()


def plan_for(root, only=None, skip=None, live=False):
    system = System(root)
    ctx = Context(system)
    ctx.live = live
    return build_plan(ctx, select(only, skip))


def items(plan, name):
    return next(p for p in plan.ops if p.operation.name == name)


def actions(plan, name):
    return {(i.action, i.path) for i in items(plan, name).items}


# ----------------------------------------------------------------------------- CLI basics
def test_list_names_every_operation_with_its_default():
    proc = run_imsprep("seal", "--list", check_rc=0)
    out = proc.stdout.decode()
    for name, default in (("bash-history", "on"), ("logfiles", "on"), ("authorized-keys", "off"), ("machine-id", "on"),
                          ("ssh-hostkeys", "on"), ("hostname", "off"), ("imsprep-state", "on"), ("cloud-init", "on"),
                          ("udev-persistent-net", "on"), ("random-seed", "on")):
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert line.split()[1] == default, line


def test_dry_run_changes_nothing_and_lists_every_file(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    before = tree_state(guest.root)
    out, _ = seal(guest.root, "--dry-run")
    assert tree_state(guest.root) == before
    assert "dry run: nothing was changed" in out
    assert "one-way" in out and "ends rollback" in out
    for path in ("/root/.bash_history", "/var/log/syslog.1", "/etc/machine-id", "/var/lib/dhcp/dhclient.eth0.leases",
                 "/var/lib/cloud/instances/", "/var/lib/imsprep/runs/", "/etc/ssh/ssh_host_ed25519_key"):
        assert path in out, path


def test_no_terminal_and_no_yes_refuses(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    before = tree_state(guest.root)
    _, err = seal(guest.root, "--end-rollback", rc=2)
    assert "--yes" in err
    assert tree_state(guest.root) == before


def test_refuses_while_a_fix_run_can_be_rolled_back(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    before = tree_state(guest.root)
    _, err = seal(guest.root, "--yes", rc=2)
    assert RUN_ID in err and "--end-rollback" in err
    assert tree_state(guest.root) == before
    # without imsprep-state nothing ends rollback: no refusal
    seal(guest.root, "--yes", "--skip", "imsprep-state", "--only", "bash-history")
    assert not os.path.exists(guest.path("/root/.bash_history"))
    assert os.path.exists(guest.path("/var/lib/imsprep/runs/%s/journal.jsonl" % RUN_ID))


def test_rolled_back_run_does_not_block(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    fix_run(guest, rolled_back=True)
    out, _ = seal(guest.root, "--yes")
    assert not os.path.exists(guest.path("/var/lib/imsprep/runs"))
    assert "ends rollback" not in out.split("\n\n")[0]


def test_unknown_operation_and_poweroff_offline_are_usage_errors(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    _, err = seal(guest.root, "--only", "bash-history,frobnicate", "--dry-run", rc=2)
    assert "frobnicate" in err
    _, err = seal(guest.root, "--poweroff", "--yes", rc=2)
    assert "live" in err


# ----------------------------------------------------------------------------- the whole seal
def test_seal_applies_every_operation(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    p = guest.path
    syslog_ino = os.stat(p("/var/log/syslog")).st_ino
    log = str(tmp_path / "seal.log")
    out, _ = seal(guest.root, "--yes", "--end-rollback", "--only", "defaults,authorized-keys,hostname", "--log", log)
    assert "0 failed" in out
    gone = ["/root/.bash_history", "/home/alice/.bash_history", "/srv/svc/.bash_history", "/home/alice/.python_history",
            "/home/alice/.local/share/fish/fish_history", "/var/log/syslog.1", "/var/log/syslog.2.gz",
            "/var/log/apt/eipp.log.xz", "/var/log/messages-20261129",
            "/var/log/journal/0123456789abcdef0123456789abcdef/system.journal", "/var/lib/dbus/machine-id",
            "/var/lib/dhcp/dhclient.eth0.leases", "/var/lib/NetworkManager/internal-7d3f-eth0.lease",
            "/etc/udev/rules.d/70-persistent-net.rules", "/etc/NetworkManager/system-connections/eth0.nmconnection",
            "/var/cache/apt/archives/nginx_1.22.1-9_amd64.deb", "/var/cache/apt/pkgcache.bin", "/tmp/build.log", "/tmp/work",
            "/var/tmp/systemd-private-abc-chrony.service-XYZ", "/var/crash/_usr_bin_app.0.crash",
            "/var/lib/systemd/coredump/core.app.1000.zst", "/var/lib/systemd/random-seed", "/var/lib/imsprep/runs",
            "/var/lib/imsprep/tmp", "/var/lib/imsprep/lock", "/var/log/imsprep/changes.log",
            "/var/lib/cloud/instances", "/var/lib/cloud/instance", "/var/lib/cloud/data",
            "/var/lib/cloud/scripts", "/var/log/cloud-init.log", "/var/log/cloud-init-output.log"]
    for path in gone:
        assert not os.path.lexists(p(path)), path
    emptied = ["/var/log/syslog", "/var/log/auth.log", "/var/log/apt/history.log", "/var/log/dpkg.log", "/var/log/wtmp",
               "/var/log/btmp", "/var/log/lastlog", "/etc/machine-id", "/root/.ssh/authorized_keys",
               "/home/alice/.ssh/authorized_keys"]
    for path in emptied:
        assert os.path.isfile(p(path)) and os.path.getsize(p(path)) == 0, path
    # emptied in place: same inode and mode, so a service writing to it keeps working
    assert os.stat(p("/var/log/syslog")).st_ino == syslog_ino
    assert stat.S_IMODE(os.stat(p("/var/log/syslog")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(p("/etc/machine-id")).st_mode) == 0o444
    kept = ["/var/log/README", "/var/log/journal/0123456789abcdef0123456789abcdef", "/var/cache/apt/archives/lock",
            "/var/cache/apt/archives/partial", "/var/lib/apt/lists/deb_dists_bookworm_InRelease", "/tmp", "/var/tmp",
            "/var/lib/cloud/seed/nocloud/meta-data", "/etc/NetworkManager/system-connections/vpn.nmconnection",
            "/etc/ssh/sshd_config", "/var/crash", "/var/lib/dhcp"]
    for path in kept:
        assert os.path.exists(p(path)), path
    assert os.path.getsize(p("/var/log/README")) > 0
    # cloud-init's ssh module makes new keys: the old ones are gone
    assert not any(n.startswith("ssh_host_") for n in os.listdir(p("/etc/ssh")))
    with open(p("/etc/hostname")) as fh:
        assert fh.read() == "localhost\n"
    with open(log) as fh:
        logged = fh.read()
    for path in ["/root/.bash_history", "/etc/machine-id", "/var/lib/imsprep/runs/%s/journal.jsonl" % RUN_ID,
                 "/var/lib/cloud/instances/iid-old/obj.pkl"]:
        assert "\t" + path + "\n" in logged, path
    assert not os.path.exists(p("/var/log/imsprep/seal.log"))  # --log wrote outside the image
    # a second seal finds nothing, and check no longer reports SEAL_PENDING
    out, _ = seal(guest.root, "--yes")
    assert "nothing to seal" in out
    report, _ = check_json(guest.root)
    assert "SEAL_PENDING" not in [f["code"] for f in report["findings"]]


def test_guest_seal_log_is_written_then_emptied(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/root/.bash_history", "ls\n")
    seal(guest.root, "--yes")
    assert os.path.isfile(guest.path("/var/log/imsprep/seal.log"))
    assert os.path.getsize(guest.path("/var/log/imsprep/seal.log")) == 0
    assert not os.path.exists(guest.path("/var/lib/imsprep"))  # made only for the lock, then removed


def test_check_reports_seal_pending_as_info(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    before = tree_state(guest.root)
    report, _ = check_json(guest.root)
    assert tree_state(guest.root) == before
    finding = next(f for f in report["findings"] if f["code"] == "SEAL_PENDING")
    assert finding["severity"] == "info" and finding["blocking"] is False
    assert "bash-history 5" in finding["message"] and "machine-id 2" in finding["message"]
    assert all("SEAL_PENDING" not in v["codes"] for v in report["verdict"].values())


# ----------------------------------------------------------------------------- --only / --skip
def test_only_and_skip(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    seal(guest.root, "--yes", "--end-rollback", "--only", "bash-history,machine-id")
    assert not os.path.exists(guest.path("/root/.bash_history"))
    assert os.path.getsize(guest.path("/etc/machine-id")) == 0
    assert os.path.getsize(guest.path("/var/log/syslog")) > 0
    assert os.path.exists(guest.path("/var/lib/imsprep/runs"))
    other = lived_in(FakeGuest(str(tmp_path / "h")))
    seal(other.root, "--yes", "--end-rollback", "--skip", "logfiles,tmp-files")
    assert os.path.getsize(other.path("/var/log/syslog")) > 0
    assert os.path.exists(other.path("/tmp/build.log"))
    assert not os.path.exists(other.path("/root/.bash_history"))
    # off by default: authorized_keys and hostname untouched unless named
    assert os.path.getsize(other.path("/root/.ssh/authorized_keys")) > 0
    with open(other.path("/etc/hostname")) as fh:
        assert fh.read() == "old-instance-42\n"


def test_select():
    assert "authorized-keys" not in select(None, None)
    assert select("authorized-keys", None) == ["authorized-keys"]
    chosen = select("defaults,hostname", "logfiles")
    assert "hostname" in chosen and "logfiles" not in chosen and "bash-history" in chosen


# ----------------------------------------------------------------------------- per operation
def test_authorized_keys_plan_says_the_procedure_asks_for_it(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    plan = plan_for(guest.root)
    op = items(plan, "authorized-keys")
    assert (TRUNCATE, "/root/.ssh/authorized_keys") in actions(plan, "authorized-keys")
    assert any("reference procedure asks" in n for n in op.notes)
    assert "authorized-keys" not in plan.selected


def test_history_homes_come_from_passwd_and_skip_system_paths(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/srv/svc/.bash_history", "x")
    guest.write("/usr/sbin/.bash_history", "not a home to clean")
    guest.symlink("/home/alice/.bash_history", "/etc/passwd")  # a symlink is never followed
    os.makedirs(guest.path("/home/alice"), exist_ok=True)
    plan = plan_for(guest.root)
    assert actions(plan, "bash-history") == {(REMOVE, "/srv/svc/.bash_history")}


def test_logfiles_plan(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    plan = plan_for(guest.root)
    acts = actions(plan, "logfiles")
    assert (TRUNCATE, "/var/log/syslog") in acts and (REMOVE, "/var/log/syslog.1") in acts
    assert (REMOVE, "/var/log/messages-20261129") in acts
    assert (REMOVE, "/var/log/journal/0123456789abcdef0123456789abcdef/system.journal") in acts
    paths = {path for _, path in acts}
    # not touched: empty files, README, login records (utmp's), cloud-init's logs (cloud-init's), imsprep's own
    for path in ("/var/log/empty.log", "/var/log/README", "/var/log/wtmp", "/var/log/cloud-init.log",
                 "/var/log/imsprep/changes.log"):
        assert path not in paths, path
    assert (REMOVE, "/var/log/cloud-init.log") in actions(plan, "cloud-init")
    assert (TRUNCATE, "/var/log/wtmp") in actions(plan, "utmp")


def test_live_plans_use_the_guests_own_tools(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    # without journald running (a chroot), the journal's files are closed: removed like offline
    plan = plan_for(guest.root, live=True)
    assert (REMOVE, "/var/log/journal/0123456789abcdef0123456789abcdef/system.journal") in actions(plan, "logfiles")
    guest.write("/run/systemd/journal/socket", "")
    plan = plan_for(guest.root, live=True)
    runs = [i.argv for p in plan.ops for i in p.items if i.action == RUN]
    assert ["cloud-init", "clean", "--logs"] in runs
    assert ["journalctl", "--rotate"] in runs and ["journalctl", "--vacuum-time=1s"] in runs
    # cloud-init's files are listed but removed by cloud-init itself; its logs are not truncated as well
    assert (NOTE, "/var/lib/cloud/instances") in actions(plan, "cloud-init")
    assert "/var/log/cloud-init.log" not in {path for _, path in actions(plan, "logfiles")}
    # live: private directories of running services stay in /var/tmp
    tmp = {path for _, path in actions(plan, "tmp-files")}
    assert "/tmp/build.log" in tmp and not any("systemd-private" in path for path in tmp)
    assert any("sessions already open keep working" in n for n in items(plan, "ssh-hostkeys").notes)
    # dhclient's release at power-off writes its lease file again (its DUID): the live plan says so
    assert any("default-duid" in n for n in items(plan, "dhcp-client-state").notes)
    assert not any("default-duid" in n for n in items(plan_for(guest.root), "dhcp-client-state").notes)


def test_offline_cloud_init_runs_no_guest_code(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    guest.write("/etc/cloud/clean.d/99-imsprep", "#!/bin/sh\ntouch /ran\n", mode=0o755)
    plan = plan_for(guest.root)
    acts = actions(plan, "cloud-init")
    assert (REMOVE_TREE, "/var/lib/cloud/instances") in acts and (REMOVE, "/var/lib/cloud/instance") in acts
    assert not any(a == RUN for a, _ in acts)
    assert "/var/lib/cloud/seed" not in {path for _, path in acts}
    assert any("not run" in n and "99-imsprep" in n for n in items(plan, "cloud-init").notes)


def test_machine_id_link_is_left_alone(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/etc/machine-id", "4f1c9e7d2b8a4c6e9d0f1a2b3c4d5e6f\n")
    guest.symlink("/var/lib/dbus/machine-id", "/etc/machine-id")
    plan = plan_for(guest.root)
    assert actions(plan, "machine-id") == {(TRUNCATE, "/etc/machine-id")}
    seal(guest.root, "--yes", "--only", "machine-id")
    assert os.path.islink(guest.path("/var/lib/dbus/machine-id"))
    assert os.path.getsize(guest.path("/etc/machine-id")) == 0


def test_udev_rules_and_their_copy_in_the_initramfs(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    guest.write("/boot/initrd.img-6.1.0-50-amd64",
                compress(make_cpio(["init", "etc/udev/rules.d/70-persistent-net.rules"]), "gzip"))
    guest.write("/boot/initrd.img-6.1.0-49-amd64", compress(make_cpio(["init"]), "gzip"))
    plan = plan_for(guest.root)
    acts = actions(plan, "udev-persistent-net")
    assert (REMOVE, "/etc/udev/rules.d/70-persistent-net.rules") in acts
    assert (NOTE, "/boot/initrd.img-6.1.0-50-amd64") in acts
    assert (NOTE, "/boot/initrd.img-6.1.0-49-amd64") not in acts
    note = next(i for i in items(plan, "udev-persistent-net").items if i.action == NOTE)
    assert "update-initramfs" in note.detail


def test_nm_connections_pinned_to_a_mac_only(tmp_path):
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    plan = plan_for(guest.root)
    assert actions(plan, "net-nmconn") == {(REMOVE, "/etc/NetworkManager/system-connections/eth0.nmconnection")}


def test_hostname_note_depends_on_cloud_init(tmp_path):
    with_ci = plan_for(lived_in(FakeGuest(str(tmp_path / "g"))).root)
    assert any("cloud-init sets" in n for n in items(with_ci, "hostname").notes)
    without = plan_for(lived_in(FakeGuest(str(tmp_path / "h")), cloud_init=False).root)
    assert any("no cloud-init" in n for n in items(without, "hostname").notes)


def test_rhel_family_caches_and_leases(tmp_path):
    guest = FakeGuest(str(tmp_path / "g")).os_release("python-distro_rocky9")
    guest.write("/var/cache/dnf/baseos-1234/packages/kernel-core.rpm", b"rpm")
    guest.write("/var/lib/NetworkManager/dhclient-eth0.conf", "send host-name old;\n")
    guest.write("/var/cache/apt/archives/x.deb", b"not this family's")
    plan = plan_for(guest.root)
    assert plan.ctx.family == "rhel"
    assert (REMOVE, "/var/cache/dnf/baseos-1234/packages/kernel-core.rpm") in actions(plan, "package-manager-cache")
    assert "/var/cache/apt/archives/x.deb" not in {path for _, path in actions(plan, "package-manager-cache")}
    assert (REMOVE, "/var/lib/NetworkManager/dhclient-eth0.conf") in actions(plan, "dhcp-client-state")


# ----------------------------------------------------------------------------- SSH host keys
def keys(guest):
    for kind in ("rsa", "ed25519"):
        guest.write("/etc/ssh/ssh_host_%s_key" % kind, "k", mode=0o600)
        guest.write("/etc/ssh/ssh_host_%s_key.pub" % kind, "p")


def install(guest, source, guest_path):
    os.makedirs(os.path.dirname(guest.path(guest_path)), exist_ok=True)
    shutil.copyfile(os.path.join(SEAL, source), guest.path(guest_path))


def mechanism(guest):
    return keygen_mechanism(Context(System(guest.root)))


def test_debian_12_openssh_alone_keeps_the_keys(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    keys(guest)
    install(guest, "debian-12-ssh.service", "/lib/systemd/system/ssh.service")
    found, why = mechanism(guest)
    assert found is None and "Debian's openssh-server does not make host keys at boot" in why
    plan = plan_for(guest.root)
    assert all(a == NOTE for a, _ in actions(plan, "ssh-hostkeys"))
    seal(guest.root, "--yes")
    assert os.path.exists(guest.path("/etc/ssh/ssh_host_ed25519_key"))


def test_debian_13_first_boot_keygen_does_not_count_with_an_emptied_machine_id(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")), "13")
    keys(guest)
    install(guest, "debian-13-ssh.service", "/usr/lib/systemd/system/ssh.service")
    install(guest, "debian-13-sshd-keygen.service", "/usr/lib/systemd/system/sshd-keygen.service")
    found, why = mechanism(guest)
    assert found is None and "ConditionFirstBoot" in why


def test_cloud_init_ssh_module_renews_keys(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    keys(guest)
    install(guest, "debian-12-ssh.service", "/lib/systemd/system/ssh.service")
    install(guest, "debian-12-cloud.cfg", "/etc/cloud/cloud.cfg")
    assert mechanism(guest)[0] == "cloud-init"
    plan = plan_for(guest.root)
    assert (REMOVE, "/etc/ssh/ssh_host_rsa_key.pub") in actions(plan, "ssh-hostkeys")
    assert any("mechanism: cloud-init" in n for n in items(plan, "ssh-hostkeys").notes)
    # a configuration that turns key generation off, or cloud-init disabled: keys kept
    guest.write("/etc/cloud/cloud.cfg.d/99-keep.cfg", "ssh_genkeytypes: []\n")
    assert mechanism(guest)[0] is None
    os.remove(guest.path("/etc/cloud/cloud.cfg.d/99-keep.cfg"))
    guest.write("/etc/cloud/cloud-init.disabled", "")
    assert mechanism(guest)[0] is None


def test_rhel_sshd_keygen_units(tmp_path):
    guest = FakeGuest(str(tmp_path / "g")).os_release("python-distro_rocky9")
    keys(guest)
    guest.write("/usr/lib/systemd/system/sshd-keygen@.service",
                "[Unit]\nDescription=OpenSSH %i Server Key Generation\nConditionFileNotEmpty=|!/etc/ssh/ssh_host_%i_key\n\n"
                "[Service]\nType=oneshot\nEnvironmentFile=-/etc/sysconfig/sshd\nExecStart=/usr/libexec/openssh/sshd-keygen %i\n\n"
                "[Install]\nWantedBy=sshd-keygen.target\n")
    assert mechanism(guest)[0] == "keygen-unit"
    seal(guest.root, "--yes", "--only", "ssh-hostkeys")
    assert not [n for n in os.listdir(guest.path("/etc/ssh")) if n.startswith("ssh_host_")]


def test_suse_sshd_gen_keys_start(tmp_path):
    guest = FakeGuest(str(tmp_path / "g")).os_release("ansible_opensuse_leap_15.1")
    keys(guest)
    guest.write("/usr/lib/systemd/system/sshd.service",
                "[Unit]\nDescription=OpenSSH Daemon\nAfter=network.target\n\n[Service]\nEnvironmentFile=-/etc/sysconfig/ssh\n"
                "ExecStartPre=/usr/sbin/sshd-gen-keys-start\nExecStart=/usr/sbin/sshd -D $SSHD_OPTS\n")
    found, why = mechanism(guest)
    assert found == "sshd-start" and "sshd-gen-keys-start" in why


# ----------------------------------------------------------------------------- safety
def test_symlinks_are_never_followed(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/etc/important", "keep me\n")
    guest.symlink("/var/log/evil.log", "/etc/important")
    guest.symlink("/tmp/escape", "/")
    guest.symlink("/var/crash/loop", "../../etc")
    outside = tmp_path / "outside.txt"
    outside.write_text("host file\n")
    guest.symlink("/var/log/host.log", str(outside))
    guest.symlink("/root/.bash_history", "/etc/important")
    seal(guest.root, "--yes")
    with open(guest.path("/etc/important")) as fh:
        assert fh.read() == "keep me\n"
    assert outside.read_text() == "host file\n"
    assert os.path.isdir(guest.path("/etc")) and os.path.exists(guest.path("/etc/passwd"))
    assert not os.path.lexists(guest.path("/tmp/escape"))  # removed as a link
    assert not os.path.lexists(guest.path("/var/crash/loop"))


def test_runs_dir_symlink_removes_only_the_link(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/etc/keep/a", "a")
    guest.symlink("/var/lib/imsprep/runs", "/etc/keep")
    seal(guest.root, "--yes")
    assert not os.path.lexists(guest.path("/var/lib/imsprep/runs"))
    assert os.path.exists(guest.path("/etc/keep/a"))


def test_hard_linked_log_is_replaced_not_truncated_in_place(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/var/log/kern.log", "kernel: hello\n", mode=0o640)
    other = str(tmp_path / "cache-copy")
    os.link(guest.path("/var/log/kern.log"), other)
    seal(guest.root, "--yes")
    assert os.path.getsize(guest.path("/var/log/kern.log")) == 0
    assert stat.S_IMODE(os.stat(guest.path("/var/log/kern.log")).st_mode) == 0o640
    with open(other) as fh:
        assert fh.read() == "kernel: hello\n"


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_a_failed_item_is_reported_and_the_rest_still_runs(tmp_path):
    guest = debian(FakeGuest(str(tmp_path / "g")))
    guest.write("/root/.bash_history", "x")
    guest.write("/var/lib/systemd/random-seed", "seed")
    from imsprep.seal import apply as seal_apply

    plan = plan_for(guest.root)
    log = seal_apply.SealLog(plan.ctx.system, None, None)
    # the history disappears between plan and apply (a user logged out): not a failure
    os.remove(guest.path("/root/.bash_history"))
    outcome = seal_apply.apply_plan(plan, log, progress=lambda m: None)
    assert not outcome.failed
    assert not os.path.exists(guest.path("/var/lib/systemd/random-seed"))


def test_imsprep_reports_crash_logs_and_rotations_go_seal_log_stays(tmp_path):
    """`imsprep check`/`fix` keep a copy of every report in /var/log/imsprep, named after the host
    (cli.save_report), crashes leave tracebacks there and logrotate rotates its logs: all of it is
    imsprep's state and goes; the seal's own log is written there while it runs and stays (emptied)."""
    guest = debian(FakeGuest(str(tmp_path / "g")))
    leftovers = ["/var/log/imsprep/check-20261130T101010Z-old-host.json", "/var/log/imsprep/fix-20261130T101011Z-old-host.json",
                 "/var/log/imsprep/crash-20261130T101012Z.log", "/var/log/imsprep/changes.log.1",
                 "/var/log/imsprep/cloud-init.log.2.gz"]
    for path in leftovers:
        guest.write(path, '{"host": "old-host"}\n')
    guest.write("/var/log/imsprep/seal.log", "# imsprep seal of an earlier run\n")
    plan = plan_for(guest.root, only="imsprep-state")
    assert {(REMOVE, p) for p in leftovers} <= actions(plan, "imsprep-state")
    assert "/var/log/imsprep/seal.log" not in {p for _, p in actions(plan, "imsprep-state")}
    seal(guest.root, "--yes", "--only", "imsprep-state")
    for path in leftovers:
        assert not os.path.lexists(guest.path(path)), path
    assert os.path.getsize(guest.path("/var/log/imsprep/seal.log")) == 0
    assert sorted(os.listdir(guest.path("/var/log/imsprep"))) == ["seal.log"]


def test_the_list_of_what_was_removed_names_the_lock_of_an_earlier_run(tmp_path):
    """The lock file a fix run left is removed last, after the plan's items: the list names it too
    (a lock the seal made for itself only is not listed: it was never part of the image)."""
    guest = lived_in(FakeGuest(str(tmp_path / "g")))
    log = str(tmp_path / "seal.log")
    seal(guest.root, "--yes", "--end-rollback", "--log", log)
    assert not os.path.lexists(guest.path("/var/lib/imsprep/lock"))
    assert "imsprep-state\tremoved\t/var/lib/imsprep/lock\n" in open(log).read()
    fresh = debian(FakeGuest(str(tmp_path / "f")))
    fresh.write("/root/.bash_history", "ls\n")
    log = str(tmp_path / "fresh.log")
    seal(fresh.root, "--yes", "--log", log)
    assert "/var/lib/imsprep/lock" not in open(log).read()


def test_live_guest_paths_have_one_leading_slash():
    """On the live system, guest paths become host paths as they are; POSIX normpath keeps a
    leading "//", which made the seal's list name every file of a removed tree "//var/lib/..."
    (a read-only probe of this machine's /etc: nothing is written)."""
    system = System("/")
    assert system.live
    assert system.host_path("/etc/hostname") == "/etc/hostname"
    assert system.host_path("etc/hostname") == "/etc/hostname"
    files = list(system.walk_files("/etc/ssh", max_entries=5)) or list(system.walk_files("/etc", max_entries=5))
    assert files and all(f.startswith("/") and not f.startswith("//") for f in files), files


def test_root_and_image_are_exclusive_and_a_missing_image_is_a_usage_error(tmp_path):
    proc = run_imsprep("seal", "--root", str(tmp_path), "--image", str(tmp_path / "disk.raw"), "--dry-run", check_rc=2)
    assert "not allowed with" in proc.stderr.decode()
    proc = run_imsprep("seal", "--image", str(tmp_path / "missing.raw"), "--dry-run")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr.decode()
