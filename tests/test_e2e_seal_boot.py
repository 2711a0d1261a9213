"""The seal's boot proof (issue 12): a Debian guest that has lived (tests/disks.py
lived_cloud_ssh_disk: an offline `imsprep fix`, then a boot with cloud-init's first boot from a
NoCloud seed, SSH host keys, a dhclient lease, machine-id and journal, an apt run, shell sessions)
is sealed (A) offline with `imsprep seal --image` and (B) live, inside the booted guest. The sealed
disk then boots under QEMU on virtio-blk through GRUB with a NEW NoCloud seed (a new instance):

- a new machine-id, not empty, that the running system reports;
- new SSH host keys (cloud-init's ssh module; Debian's openssh-server makes none at boot), and
  ssh.service runs with them (no failed unit);
- cloud-init runs as a first boot: the seed's new instance-id, no previous instance known
  ("previous iid found to be NO_PREVIOUS_INSTANCE_ID"), the old instance's directory not back;
- none of the removed files is back. "Removed" is measured, not assumed: every regular file and
  symlink under the paths a seal touches, before the seal and after it (from the disk itself), and
  every path that went is in the seal's list. After the sealed boot, a removed path may exist
  again only when the new boot made it (written after that boot started) and it is one a first
  boot makes by design (REMADE_AT_BOOT, with the reason); an emptied file holds nothing of its old
  content.
"""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import disks
import guests
import pytest
from conftest import run_imsprep

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in (
                  "qemu-system-x86_64", "grub-mkimage", "sfdisk", "debootstrap", "losetup", "ssh-keygen")),
                  reason="needs root and tests/setup-deps.sh's tools")]

# every path a Debian seal can remove or empty is below one of these
WATCHED = ["/etc/ssh", "/etc/udev/rules.d", "/etc/machine-id", "/var/lib/dbus", "/var/lib/cloud", "/var/log", "/var/lib/dhcp", "/var/lib/systemd",
           "/root", "/home", "/var/lib/imsprep", "/var/cache/imsprep", "/var/cache/apt", "/tmp", "/var/tmp", "/var/crash"]

# removed paths a first boot writes again by design; each must have been written by that boot
REMADE_AT_BOOT = [
    (r"/etc/ssh/ssh_host_\w+_key(\.pub)?$", "cloud-init's ssh module makes the new instance's host keys"),
    (r"/var/lib/cloud/(instance|data/.*|handlers/.*|sem/.*)$", "cloud-init's state of the new instance"),
    (r"/var/log/cloud-init(-output)?\.log$", "cloud-init's log of the new instance's boot"),
    (r"/var/lib/dhcp/dhclient\..*\.leases$", "dhclient's lease of this boot"),
    (r"/etc/udev/rules\.d/70-persistent-net\.rules$", "cloud-init's ENI renderer names the new instance's NIC by its MAC"),
    (r"/var/lib/systemd/random-seed$", "systemd-random-seed saves a new seed at every boot"),
    (r"/var/lib/dbus/machine-id$", "D-Bus's tmpfiles.d makes it again, a link to the new /etc/machine-id"),
    (r"/var/lib/cloud/scripts/per-instance/imsprep$", "imsprep's package installs its hook for each new instance "
                                                       "(imsprep-cloud-hook.service, before cloud-init's final stage)"),
    (r"/var/cache/imsprep/initramfs-\d+/\w+\.json$", "that hook's `imsprep check` of the new instance caches its "
                                                      "initramfs listing"),
    (r"/var/lib/systemd/timers/stamp-.*$", "systemd timers' last-run stamps"),
    (r"/var/lib/systemd/(deb-systemd-helper-enabled|catalog)/.*$", "systemd's own state"),
]
# identity: remade, and never with the old content
NEVER_SAME = re.compile(r"/etc/ssh/ssh_host_|/var/lib/systemd/random-seed$|/var/lib/cloud/data/instance-id$|"
                        r"/var/lib/dbus/machine-id$")


def sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def snapshot(mnt):
    """guest path -> (kind, content hash or link target, mtime) of every file and symlink in WATCHED."""
    state = {}
    for top in WATCHED:
        host = os.path.join(mnt, top.lstrip("/"))
        if os.path.islink(host) or os.path.isfile(host):
            entries = [host]
        else:
            entries = [os.path.join(d, n) for d, dirs, files in os.walk(host) for n in files + [x for x in dirs if
                                                                                              os.path.islink(os.path.join(d, x))]]
        for path in entries:
            st = os.lstat(path)
            guest = "/" + os.path.relpath(path, mnt)
            if stat.S_ISLNK(st.st_mode):
                state[guest] = ("link", os.readlink(path), st.st_mtime)
            elif stat.S_ISREG(st.st_mode):
                state[guest] = ("file", sha(path), st.st_mtime, head(path))
    return state


def head(path, size=4096):
    with open(path, "rb") as fh:
        return fh.read(size)


EMPTY = hashlib.sha256(b"").hexdigest()


def holds_old(old, new):
    """Whether file state ``new`` begins with ``old``'s (non-empty) content, as a restored copy
    with new lines appended would (a new file of the same kind, e.g. wtmp's boot record, does not)."""
    return old[0] == "file" and new[0] == "file" and old[1] != EMPTY and (old[1] == new[1] or new[3].startswith(old[3]))


def identity(mnt):
    """machine-id, the host keys' fingerprints (ssh-keygen -l), cloud-init's instance-id."""
    def read(path):
        full = os.path.join(mnt, path.lstrip("/"))
        return open(full).read().strip() if os.path.isfile(full) else ""

    keys = {}
    ssh = os.path.join(mnt, "etc", "ssh")
    for name in sorted(os.listdir(ssh)):
        if name.startswith("ssh_host_") and name.endswith("_key.pub"):
            out = subprocess.run(["ssh-keygen", "-l", "-f", os.path.join(ssh, name)], stdout=subprocess.PIPE,
                                 universal_newlines=True, check=True).stdout.split()
            keys[name] = out[1]
    return {"machine-id": read("/etc/machine-id"), "host-keys": keys, "instance-id": read("/var/lib/cloud/data/instance-id")}


def lived_copy(tmp_path, name):
    image = disks.copy_disk(disks.lived_cloud_ssh_disk(), str(tmp_path / name))
    with disks.root_of(image, 1) as mnt:
        before = identity(mnt)
        # what the lived guest has: the list
        assert re.fullmatch(r"[0-9a-f]{32}", before["machine-id"]), before
        assert before["instance-id"] == disks.LIVED_INSTANCE, before
        assert {"ssh_host_ed25519_key.pub", "ssh_host_rsa_key.pub", "ssh_host_ecdsa_key.pub"} <= set(before["host-keys"])
        for path in ("/root/.bash_history", "/home/debian/.bash_history", "/var/log/apt/history.log",
                     "/var/lib/cloud/instances/" + disks.LIVED_INSTANCE, "/var/lib/imsprep/runs"):
            assert os.path.exists(os.path.join(mnt, path.lstrip("/"))), path
        assert [n for n in os.listdir(os.path.join(mnt, "var/lib/dhcp")) if n.startswith("dhclient")], "no DHCP lease"
    return image, before


def parse_seal_log(lines):
    """(removed, emptied) guest paths from the seal's list ("op<TAB>action<TAB>path")."""
    removed, emptied = set(), set()
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(fields) != 3:
            continue
        if fields[1] == "removed":
            removed.add(fields[2].rstrip("/"))
        elif fields[1] == "emptied":
            emptied.add(fields[2])
    return removed, emptied


def check_removal(pre, post, logged_removed, logged_emptied, live=False):
    """What went is what the seal says it removed; returns the removed paths (measured)."""
    gone = {p for p in pre if p not in post}
    unlisted = sorted(p for p in gone if p not in logged_removed and not (
        live and (p.startswith("/var/lib/cloud/") or p.startswith("/var/log/cloud-init"))))
    assert not unlisted, "removed but not in the seal's list: %s" % unlisted
    for path in ("/root/.bash_history", "/home/debian/.bash_history", "/etc/ssh/ssh_host_ed25519_key",
                 "/etc/ssh/ssh_host_rsa_key.pub", "/var/lib/cloud/instance", "/var/log/cloud-init.log",
                 "/var/lib/cloud/instances/%s/obj.pkl" % disks.LIVED_INSTANCE, "/var/lib/cloud/data/instance-id"):
        assert path in gone, path
    leases = [p for p in pre if p.startswith("/var/lib/dhcp/dhclient")]
    assert leases and set(leases) <= logged_removed, leases
    # live, dhclient releases the lease at power-off and writes the file again: its DUID, no lease (the plan says so)
    assert not [p for p in leases if p in post and (not live or b"lease {" in post[p][3])], "the DHCP lease stayed"
    assert [p for p in gone if p.startswith("/var/lib/imsprep/runs/")], "imsprep's fix run stayed"
    assert [p for p in gone if p.startswith("/var/log/imsprep/check-")], "imsprep's check report stayed"
    assert [p for p in gone if p.startswith("/var/cache/apt/archives/imsprep_")], "the package cache stayed"
    # live, journald rotates and vacuums (its new active files of this shutdown stay); offline, the files go
    assert live or [p for p in gone if p.startswith("/var/log/journal/")], "the journal stayed"
    for path in logged_emptied:
        # emptied; live, the shutdown after the seal may write to it again (wtmp's shutdown record), never the old lines
        if path in post and path in pre:
            assert post[path][1] == EMPTY or (live and not holds_old(pre[path], post[path])), path
    assert "/etc/machine-id" in logged_emptied
    return gone


def reseed(image, instance_id):
    """The cloud of the new instance: a NoCloud seed with a new instance-id (outside what the seal touches)."""
    with disks.root_of(image, 1) as mnt:
        disks.write_seed(mnt, instance_id)


def assert_sealed_boot(image, boot, before, pre, gone, emptied, instance_id, boot_started):
    assert boot.booted, boot.summary()
    assert boot.through_grub, boot.summary()  # BOOT_IMAGE= on the command line: GRUB loaded the kernel
    assert boot.fields["root"] == "/dev/vda1", boot.summary()
    assert boot.fields["failed"] == "", boot.summary()  # ssh.service included: it started with the new keys
    assert "10.0.2.15" in boot.fields["net"], boot.summary()
    with disks.root_of(image, 1) as mnt:
        after = identity(mnt)
        post = snapshot(mnt)
        # the lease on the disk is this boot's
        leases = [p for p in post if p.startswith("/var/lib/dhcp/dhclient")]
        assert leases and all(post[p][2] >= boot_started - 2 and b"lease {" in post[p][3] for p in leases), leases
        # a new machine-id, made at this boot and committed to the disk; the running system reported it
        assert re.fullmatch(r"[0-9a-f]{32}", after["machine-id"]), after
        assert after["machine-id"] != before["machine-id"]
        assert boot.fields["machine-id"] == after["machine-id"], boot.summary()
        # new host keys, every one
        assert set(before["host-keys"]) <= set(after["host-keys"]), (before, after)
        assert not set(before["host-keys"].values()) & set(after["host-keys"].values()), (before, after)
        # cloud-init: a first boot of the new instance; the old one is not known any more
        assert after["instance-id"] == instance_id, after
        assert os.listdir(os.path.join(mnt, "var/lib/cloud/instances")) == [instance_id]
        assert os.readlink(os.path.join(mnt, "var/lib/cloud/instance")).endswith("/" + instance_id)
        log = open(os.path.join(mnt, "var/log/cloud-init.log"), errors="replace").read()
        assert "previous iid found to be NO_PREVIOUS_INSTANCE_ID" in log, log[-3000:]
        assert disks.LIVED_INSTANCE not in log
        assert not os.path.exists(os.path.join(mnt, "var/lib/cloud/data/previous-instance-id")) or \
            open(os.path.join(mnt, "var/lib/cloud/data/previous-instance-id")).read().strip() != disks.LIVED_INSTANCE
        # none of the removed files is back; what a first boot makes again is new
        back = sorted(p for p in gone if p in post)
        unexpected = []
        for path in back:
            reason = next((why for pattern, why in REMADE_AT_BOOT if re.match(pattern, path)), None)
            written_now = post[path][2] >= boot_started - 2
            same = post[path][:2] == pre[path][:2]
            if reason is None or not written_now or (same and NEVER_SAME.search(path)):
                unexpected.append((path, reason, "written now" if written_now else "old mtime", "same" if same else "new"))
        assert not unexpected, "removed files back: %s" % unexpected
        old_lines = [p for p in emptied if p in pre and p in post and holds_old(pre[p], post[p])]
        assert not old_lines, "emptied files hold their old content again: %s" % old_lines
        assert not os.path.exists(os.path.join(mnt, "var/lib/cloud/instances", disks.LIVED_INSTANCE))
    sys.stdout.write("\nsealed boot: %.0fs; %d removed paths, %d back (each made by the new boot: %s)\n" % (
        boot.seconds, len(gone), len(back), ", ".join(back)))
    return after


def test_a_offline_seal_of_a_lived_guest_boots_as_a_new_instance(tmp_path):
    image, before = lived_copy(tmp_path, "offline.raw")
    with disks.root_of(image, 1) as mnt:
        pre = snapshot(mnt)
    # the lived guest's fix run can still be rolled back: refused without --end-rollback
    proc = run_imsprep("seal", "--image", image, "--yes", check_rc=2)
    assert "--end-rollback" in proc.stderr.decode(), proc.stderr.decode()[-2000:]
    seal_log = str(tmp_path / "seal.log")
    started = time.monotonic()
    proc = run_imsprep("seal", "--image", image, "--yes", "--end-rollback", "--log", seal_log, check_rc=0)
    seconds = time.monotonic() - started
    assert "0 failed" in proc.stdout.decode(), proc.stdout.decode()[-3000:]
    with open(seal_log) as fh:
        removed, emptied = parse_seal_log(fh)
    with disks.root_of(image, 1) as mnt:
        post = snapshot(mnt)
        assert not os.path.exists(os.path.join(mnt, "var/log/imsprep/seal.log"))  # --log: written outside the image
    gone = check_removal(pre, post, removed, emptied)
    reseed(image, "iid-imsprep-sealed-offline")
    boot_started = time.time()
    boot = disks.boot(image, str(tmp_path / "sealed.log"), bus="virtio", nic=True, smbios_serial=disks.SEED_SERIAL, timeout=1500)
    assert_sealed_boot(image, boot, before, pre, gone, emptied, "iid-imsprep-sealed-offline", boot_started)
    sys.stdout.write("seal --image of the lived guest: %.1fs (%d removed, %d emptied)\n" % (seconds, len(removed), len(emptied)))


LIVE_SEAL = r"""started=$(date +%s%N)
imsprep seal --yes --end-rollback --log /run/imsprep-seal.log > /run/imsprep-seal.out 2>&1
rc=$?
echo "SEAL-MS $(( ($(date +%s%N) - started) / 1000000 ))"
sed 's/^/SEAL-LOG /' /run/imsprep-seal.log
sed 's/^/SEAL-OUT /' /run/imsprep-seal.out
exit $rc"""


def test_b_live_seal_inside_the_booted_guest_then_boots_as_a_new_instance(tmp_path):
    image, before = lived_copy(tmp_path, "live.raw")
    deb = disks.imsprep_deb()
    with disks.root_of(image, 1) as mnt:
        # this checkout's imsprep, over the one the guest installed in its lived boot
        shutil.copyfile(deb, os.path.join(mnt, "tmp", os.path.basename(deb)))
        with guests.chroot_mounts(mnt):
            guests.run(["chroot", mnt, "dpkg", "-i", "/tmp/" + os.path.basename(deb)])
        os.unlink(os.path.join(mnt, "tmp", os.path.basename(deb)))
        disks.set_action(mnt, LIVE_SEAL)
        pre = snapshot(mnt)
    # a reboot of the same instance (same seed): an administrator logs in and seals it
    live = disks.boot(image, str(tmp_path / "live-seal.log"), bus="virtio", nic=True, smbios_serial=disks.SEED_SERIAL,
                      timeout=1500)
    out = live.action_output().replace("\x00", "")
    assert live.booted, live.summary()
    # /etc/machine-id is emptied on the disk while the system runs (it keeps its id in memory until it powers off)
    assert live.fields["machine-id"] == "", live.summary()
    assert "IMSPREP-E2E-ACTION rc=0" in live.console, out[-4000:]
    seal_out = [ln.split("SEAL-OUT ", 1)[1] for ln in out.splitlines() if "SEAL-OUT " in ln]
    assert any("0 failed" in ln for ln in seal_out), "\n".join(seal_out[-60:])
    assert any("run       cloud-init clean --logs" in ln for ln in seal_out)
    assert any("only its DUID (default-duid)" in ln for ln in seal_out)
    removed, emptied = parse_seal_log(ln.split("SEAL-LOG ", 1)[1] for ln in out.splitlines() if "SEAL-LOG " in ln)
    assert removed
    with disks.root_of(image, 1) as mnt:
        post = snapshot(mnt)
        assert os.path.getsize(os.path.join(mnt, "var/log/imsprep/seal.log")) == 0 if \
            os.path.exists(os.path.join(mnt, "var/log/imsprep/seal.log")) else True
    gone = check_removal(pre, post, removed, emptied, live=True)
    reseed(image, "iid-imsprep-sealed-live")
    boot_started = time.time()
    boot = disks.boot(image, str(tmp_path / "sealed.log"), bus="virtio", nic=True, smbios_serial=disks.SEED_SERIAL, timeout=1500)
    assert_sealed_boot(image, boot, before, pre, gone, emptied, "iid-imsprep-sealed-live", boot_started)
    sealed = [ln.strip() for ln in seal_out if "Sealed:" in ln]
    seal_ms = [ln.split("SEAL-MS ", 1)[1] for ln in out.splitlines() if "SEAL-MS " in ln]
    sys.stdout.write("live seal boot (boot + seal + power-off): %.0fs; seal inside the guest: %s ms; %s\n" % (
        live.seconds, seal_ms, sealed))
