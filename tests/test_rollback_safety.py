"""Rollback never loses a later edit, journals that cannot be completed, and no symlink games
(issue #10). Fake trees; where a generator must run, it is simulated at the command (it writes a
real cpio image), as in test_fix_plan.py."""

import json
import os
import shutil

import pytest
from conftest import check_json, run_imsprep
from fakeguest import KVM_MODULES_61, XEN_MODULES, compress, make_cpio
from test_check_fake import debian_guest
from test_fix_plan import plan_for

from imsprep.errors import UserError
from imsprep.fix.journal import Journal
from imsprep.fix.runner import apply_plan, finish_run, start_run
from imsprep.system import CommandResult, System

INCOMPLETE = ["virtio", "virtio_ring", "virtio_blk"] + XEN_MODULES  # needs a rebuild for KVM


def snapshot(root, exclude=("var/lib/imsprep", "var/log/imsprep")):
    """Every path below root with its type, mode, link target or bytes."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in exclude]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = ("dir", st.st_mode)
            else:
                with open(path, "rb") as fh:
                    found[rel] = ("file", st.st_mode, fh.read())
    return found


def fixed_with_simulated_generator(guest, kver, mocker, fail_with=None):
    """Fix in process: mkinitramfs simulated (writes a real image with every module, or raises)."""
    system, facts, plan = plan_for(guest.root)
    assert "rebuild-initramfs" in [a.kind for a in plan.actions]

    def fake_run(argv, **kwargs):
        outs = [a for a in argv if str(a).endswith(".imsprep-new")]
        if not outs:
            return CommandResult(argv, 0, b"", b"")  # e.g. the mount helpers of guest_mounts
        if fail_with is not None:
            raise fail_with
        out = outs[0]
        image = compress(make_cpio(["init", "usr/lib/modules/%s/modules.dep" % kver] +
                                   guest.module_paths(kver, KVM_MODULES_61 + XEN_MODULES)), "gzip")
        with open(system.host_path(out), "wb") as fh:
            fh.write(image)
        return CommandResult(argv, 0, b"", b"")

    mocker.patch.object(system, "run", side_effect=fake_run)
    journal = start_run(system, progress=lambda m: None)
    outcome = apply_plan(system, plan, journal, progress=lambda m: None)
    finish_run(journal, outcome)
    assert outcome.failed == []
    return system, journal


# ------------------------------------------------------------------ later edits are kept
def test_later_edit_is_kept_with_a_diff_then_forced(tmp_path):
    guest, _ = debian_guest(tmp_path / "g")
    original = "# left by a PV suite\nblacklist xen_blkfront\ninstall virtio_blk /bin/true\n"
    guest.write("/etc/modprobe.d/pv.conf", original)
    guest.write("/etc/modprobe.d/other.conf", "blacklist virtio_net\n")
    run_imsprep("fix", "--root", guest.root, "--yes", check_rc=0)
    fixed = open(guest.path("/etc/modprobe.d/pv.conf")).read()
    assert fixed != original
    with open(guest.path("/etc/modprobe.d/pv.conf"), "a") as fh:
        fh.write("options admin_added_this 1\n")
    edited = open(guest.path("/etc/modprobe.d/pv.conf")).read()

    dry = run_imsprep("rollback", "--root", guest.root, "--dry-run")
    out = dry.stdout.decode()
    assert dry.returncode == 1 and "/etc/modprobe.d/pv.conf changed since the fix" in out
    assert "+options admin_added_this 1" in out and "--force" in out
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() == edited

    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "KEPT 1 file(s) changed since the fix" in out and "+options admin_added_this 1" in out
    assert "`imsprep rollback --force` restores it anyway" in out
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() == edited  # the later edit is not lost
    assert open(guest.path("/etc/modprobe.d/other.conf")).read() == "blacklist virtio_net\n"  # the rest restored

    again = run_imsprep("rollback", "--root", guest.root, "--yes")
    assert again.returncode == 1 and "1 file(s) restored by an earlier rollback" in again.stdout.decode()
    forced = run_imsprep("rollback", "--root", guest.root, "--yes", "--force")
    assert forced.returncode == 0, forced.stdout.decode()
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() == original
    assert "nothing to roll back" in run_imsprep("rollback", "--root", guest.root, "--yes", check_rc=0).stdout.decode()


@pytest.fixture
def mounted(tmp_path):
    from test_stable_names import mounted_guest

    gen = mounted_guest.__wrapped__(tmp_path)
    try:
        yield next(gen)
    finally:
        next(gen, None)


def test_fstab_data_line_added_after_the_fix_survives_rollback(mounted):
    from test_stable_names import FSTAB

    guest, _ = mounted
    guest.write("/etc/fstab", FSTAB)
    run_imsprep("fix", "--root", guest.root, "--yes")
    assert "UUID=" in open(guest.path("/etc/fstab")).read()
    data_line = "/dev/disk/by-label/data2 /data2 ext4 defaults 0 2\n"
    with open(guest.path("/etc/fstab"), "a") as fh:
        fh.write(data_line)
    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "/etc/fstab changed since the fix" in out and "+" + data_line in out
    assert open(guest.path("/etc/fstab")).read().endswith(data_line)
    run_imsprep("rollback", "--root", guest.root, "--yes", "--force", check_rc=0)
    assert open(guest.path("/etc/fstab")).read() == FSTAB


def test_initramfs_rebuilt_by_someone_else_is_refused(tmp_path, mocker):
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    image = guest.path("/boot/initrd.img-%s" % kver)
    with open(image, "rb") as fh:
        old_image = fh.read()
    modules_before = open(guest.path("/etc/initramfs-tools/modules")).read()
    fixed_with_simulated_generator(guest, kver, mocker)
    report, rc = check_json(guest.root)
    assert rc == 0
    # the admin adds nvme and rebuilds: another image
    other = compress(make_cpio(["init", "usr/lib/modules/%s/modules.dep" % kver] +
                               guest.module_paths(kver, KVM_MODULES_61 + XEN_MODULES + ["nvme", "nvme_core"])), "gzip")
    with open(image, "wb") as fh:
        fh.write(other)
    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert "/boot/initrd.img-%s changed since the fix" % kver in out and "sha256" in out and "bytes" in out
    assert open(image, "rb").read() == other
    assert open(guest.path("/etc/initramfs-tools/modules")).read() == modules_before
    run_imsprep("rollback", "--root", guest.root, "--yes", "--force", check_rc=0)
    assert open(image, "rb").read() == old_image


def test_journal_records_what_was_written(tmp_path, mocker):
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    _, journal = fixed_with_simulated_generator(guest, kver, mocker)
    import hashlib

    afters = {e["path"]: e for e in journal.entries() if e.get("op") == "after"}
    for path in ("/etc/initramfs-tools/modules", "/boot/initrd.img-%s" % kver):
        with open(guest.path(path), "rb") as fh:
            data = fh.read()
        assert afters[path]["sha256"] == hashlib.sha256(data).hexdigest() and afters[path]["size"] == len(data)


# ------------------------------------------------------------------ journals that cannot be completed
def test_initramfs_path_that_is_a_directory_is_refused_before_any_change(tmp_path):
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    image = guest.path("/boot/initrd.img-%s" % kver)
    os.unlink(image)
    os.makedirs(image)
    before = snapshot(guest.root)
    proc = run_imsprep("fix", "--root", guest.root, "--yes")
    assert proc.returncode == 2, proc.stdout.decode()[-2000:]
    lines = proc.stderr.decode().strip().splitlines()
    assert "Traceback" not in proc.stderr.decode()
    assert lines[-1].startswith("imsprep: error: refusing to fix: /boot/initrd.img-%s is a directory" % kver)
    assert snapshot(guest.root) == before
    assert not os.path.exists(guest.path("/var/lib/imsprep/runs"))


def test_old_journal_with_a_directory_in_the_way_rolls_back(tmp_path):
    """A journal left by the old crash (image recorded as 'did not exist', a directory there):
    rollback restores the modules file and leaves the directory it never created."""
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    image = "/boot/initrd.img-%s" % kver
    os.unlink(guest.path(image))
    os.makedirs(guest.path(image))
    original = open(guest.path("/etc/initramfs-tools/modules")).read()
    run_dir = guest.path("/var/lib/imsprep/runs/20260101T000000-1")
    os.makedirs(run_dir + "/backup/etc/initramfs-tools")
    shutil.copy(guest.path("/etc/initramfs-tools/modules"), run_dir + "/backup/etc/initramfs-tools/modules")
    guest.write("/etc/initramfs-tools/modules", original + "virtio_pci\n")
    entries = [{"op": "begin"},
               {"op": "file", "path": "/etc/initramfs-tools/modules", "existed": True, "mode": 420,
                "backup": "/var/lib/imsprep/runs/20260101T000000-1/backup/etc/initramfs-tools/modules", "reason": "x"},
               {"op": "tmp-image", "path": image + ".imsprep-new"},
               {"op": "file", "path": image, "existed": False, "reason": "initramfs rebuilt"}]
    with open(run_dir + "/journal.jsonl", "w") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in entries) + '{"op": "end"')  # cut by the crash
    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
    assert open(guest.path("/etc/initramfs-tools/modules")).read() == original
    assert os.path.isdir(guest.path(image))


def test_missing_backup_restores_the_rest_and_does_not_redo(tmp_path, mocker):
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    image = guest.path("/boot/initrd.img-%s" % kver)
    with open(image, "rb") as fh:
        old_image = fh.read()
    system, journal = fixed_with_simulated_generator(guest, kver, mocker)
    os.unlink(guest.path(journal.backup_dir + "/etc/initramfs-tools/modules"))
    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "NOT RESTORED: /etc/initramfs-tools/modules: not restored, its backup" in out and "is missing" in out
    assert open(image, "rb").read() == old_image  # the rest was restored
    restored = [e for e in journal.entries() if e.get("op") == "restored"]
    assert {e["path"] for e in restored} == {"/boot/initrd.img-%s" % kver}
    # a later rollback does not restore the image again (someone may have rebuilt it meanwhile)
    with open(image, "ab") as fh:
        fh.write(b"\0")
    again = run_imsprep("rollback", "--root", guest.root, "--yes")
    assert again.returncode == 1 and "restore /boot/initrd.img" not in again.stdout.decode()
    assert open(image, "rb").read() == old_image + b"\0"
    forced = run_imsprep("rollback", "--root", guest.root, "--yes", "--force")
    assert forced.returncode == 0, forced.stdout.decode()
    assert "GIVEN UP: /etc/initramfs-tools/modules" in forced.stdout.decode()
    assert Journal.last(System(guest.root)) is None


def test_crash_in_the_middle_of_a_fix_leaves_a_journal_rollback_completes(tmp_path, mocker):
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    for name in ("dev", "proc", "sys", "var/log"):  # as in any real tree (fix mounts there)
        os.makedirs(guest.path(name), exist_ok=True)
    before = snapshot(guest.root)
    with pytest.raises(RuntimeError):
        fixed_with_simulated_generator(guest, kver, mocker, fail_with=RuntimeError("killed mid-build"))
    assert snapshot(guest.root) != before  # the generator configuration was already edited
    run_imsprep("rollback", "--root", guest.root, "--yes", check_rc=0)
    assert snapshot(guest.root) == before


# ------------------------------------------------------------------ no symlink games
def test_state_tmp_link_to_etc_is_refused_and_etc_untouched(tmp_path):
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    guest.symlink("/var/lib/imsprep/tmp", "/etc")
    etc_before = sorted(os.listdir(guest.path("/etc")))
    before = snapshot(guest.root)
    proc = run_imsprep("fix", "--root", guest.root, "--yes")
    assert proc.returncode == 2
    err = proc.stderr.decode().strip().splitlines()
    assert "Traceback" not in proc.stderr.decode()
    assert "/var/lib/imsprep/tmp is a symbolic link in the guest" in err[-1]
    assert sorted(os.listdir(guest.path("/etc"))) == etc_before
    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    assert proc.returncode in (0, 2)
    assert snapshot(guest.root) == before


@pytest.mark.parametrize("link", ["/var/lib/imsprep/lock", "/var/lib/imsprep/runs", "/var/log/imsprep"])
def test_state_links_are_refused(tmp_path, link):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep\n")
    guest, _ = debian_guest(tmp_path / "g")
    guest.write("/etc/modprobe.d/pv.conf", "blacklist xen_blkfront\n")
    guest.symlink(link, str(outside / "victim") if link.endswith("lock") else str(outside))
    proc = run_imsprep("fix", "--root", guest.root, "--yes")
    assert proc.returncode == 2 and "symbolic link" in proc.stderr.decode().strip().splitlines()[-1]
    assert os.listdir(str(outside)) == ["victim"] and (outside / "victim").read_text() == "keep\n"
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() == "blacklist xen_blkfront\n"


def test_writes_go_through_directory_fds_without_following_links(tmp_path):
    """A directory swapped for a link after resolution (simulated by asking for the components
    directly) is refused, and nothing is written outside the root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    guest, _ = debian_guest(tmp_path / "g")
    os.symlink(str(outside), guest.path("/etc/swapped"))
    system = System(guest.root)
    with pytest.raises(UserError):
        system._open_dir(["etc", "swapped"], create=True)
    # through the public API the link is resolved inside the root: /outside... in the guest
    system.write_atomic("/etc/swapped/x", b"1")
    assert os.listdir(str(outside)) == []
    assert open(guest.path(str(outside) + "/x"), "rb").read() == b"1"
    # unlink removes a link itself, never its target
    (outside / "target").write_text("t")
    os.symlink(str(outside / "target"), guest.path("/etc/link"))
    system.unlink("/etc/link")
    assert (outside / "target").read_text() == "t" and not os.path.lexists(guest.path("/etc/link"))
    # remove_tree of a link is refused, the target untouched
    os.symlink("/etc", guest.path("/var/tree-link"))
    with pytest.raises(UserError):
        system.remove_tree("/var/tree-link")
    assert os.path.isdir(guest.path("/etc/modprobe.d")) or os.listdir(guest.path("/etc"))


def test_journal_is_read_whole_beyond_max_read_bytes(tmp_path):
    """The read cap is for guest files; imsprep's own journal of a big run must never be cut."""
    guest, _ = debian_guest(tmp_path / "g")
    system = System(guest.root, max_read_bytes=64 << 10)
    journal = Journal.create(system)
    for number in range(3000):
        journal.append({"op": "file", "path": "/etc/file-%05d" % number, "existed": False, "reason": "x" * 40})
    assert os.path.getsize(guest.path(journal.path)) > 64 << 10
    paths = [e["path"] for e in journal.entries() if e.get("op") == "file"]
    assert len(paths) == 3000 and paths[-1] == "/etc/file-02999"


# ------------------------------------------------------------------ the case, for real
@pytest.mark.e2e
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap"), reason="needs root and debootstrap")
def test_real_guest_later_edits_and_a_foreign_rebuild_survive_rollback(tmp_path):
    """The cached bookworm guest, broken as a XEN-made image: fix for real (the guest's own
    mkinitramfs), then the admin adds a /data line to fstab and nvme to the initramfs and runs
    update-initramfs. Rollback keeps both and says why; --force restores the pre-fix tree."""
    import guests

    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    guests.break_itools(root)
    reference = guests.clone_guest(guests.itools_guest(), str(tmp_path / "reference"))
    guests.break_itools(reference)
    kver = guests.kver_of(root)
    image = os.path.join(root, "boot", "initrd.img-" + kver)
    run_imsprep("fix", "--root", root, "--yes", check_rc=0)
    # the clone shares inodes with the cache (hard links): edits replace files, never append in place
    for rel, line in (("etc/fstab", "LABEL=data /data ext4 defaults,nofail 0 2\n"), ("etc/initramfs-tools/modules", "nvme\n")):
        with open(os.path.join(root, rel)) as fh:
            text = fh.read()
        guests.write_replacing(os.path.join(root, rel), text + line)
    with guests.chroot_mounts(root):
        guests.run(["chroot", root, "update-initramfs", "-u", "-k", kver])
    with open(image, "rb") as fh:
        rebuilt = fh.read()

    dry = run_imsprep("rollback", "--root", root, "--dry-run")
    assert dry.returncode == 1 and ("/boot/initrd.img-%s changed since the fix" % kver) in dry.stdout.decode()
    proc = run_imsprep("rollback", "--root", root, "--yes")
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "+nvme" in out and "/etc/initramfs-tools/modules changed since the fix" in out
    assert ("/boot/initrd.img-%s changed since the fix" % kver) in out and "--force" in out
    with open(image, "rb") as fh:
        assert fh.read() == rebuilt
    assert "nvme" in open(os.path.join(root, "etc", "initramfs-tools", "modules")).read()
    assert "LABEL=data /data" in open(os.path.join(root, "etc", "fstab")).read()  # fix did not touch fstab here

    run_imsprep("rollback", "--root", root, "--yes", "--force", check_rc=0)
    differences = guests.tree_differences(reference, root)
    # the admin's fstab line is not imsprep's to undo (update-initramfs's own state may differ too)
    assert "etc/fstab" in differences
    assert not any(d.startswith(("boot", "etc/initramfs-tools")) for d in differences), differences


def test_a_file_written_by_two_actions_is_recorded_after_the_last(tmp_path, mocker):
    """The PV-suite uninstaller and later depmod both rewrite modules.dep: what rollback compares
    with is what the *last* action left, else every such run would read as 'changed since'."""
    from imsprep.fix.actions import EditFile
    from imsprep.fix.plan import Plan

    guest, _ = debian_guest(tmp_path / "g")
    guest.write("/etc/twice.conf", "0\n")
    system = System(guest.root)
    mocker.patch.object(system, "run", side_effect=lambda argv, **kw: CommandResult(argv, 0, b"", b""))
    plan = Plan()
    plan.actions = [EditFile("/etc/twice.conf", "0\n", "1\n", "first"), EditFile("/etc/twice.conf", "1\n", "2\n", "second")]
    journal = start_run(system, progress=lambda m: None)
    finish_run(journal, apply_plan(system, plan, journal, progress=lambda m: None))
    proc = run_imsprep("rollback", "--root", guest.root, "--yes")
    assert proc.returncode == 0, proc.stdout.decode()
    assert open(guest.path("/etc/twice.conf")).read() == "0\n"


def test_untouched_fix_rolls_back_cleanly_and_dry_run_says_0(tmp_path):
    guest, _ = debian_guest(tmp_path / "g")
    original = "blacklist xen_blkfront\n"
    guest.write("/etc/modprobe.d/pv.conf", original)
    run_imsprep("fix", "--root", guest.root, "--yes", check_rc=0)
    dry = run_imsprep("rollback", "--root", guest.root, "--dry-run", check_rc=0)
    assert b"changed since" not in dry.stdout and b"dry run: nothing was changed" in dry.stdout
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() != original
    run_imsprep("rollback", "--root", guest.root, "--yes", check_rc=0)
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() == original


def test_unknown_journal_op_is_a_one_line_error_and_changes_nothing(tmp_path):
    """Each journal op is undone by the handler registered for it: an op this imsprep has no
    handler for (a journal from another version) refuses the whole rollback, before any change,
    with one line naming the op, not a traceback."""
    guest, kver = debian_guest(tmp_path / "g", modules=INCOMPLETE)
    original = open(guest.path("/etc/initramfs-tools/modules")).read()
    run_dir = guest.path("/var/lib/imsprep/runs/20260101T000000-1")
    os.makedirs(run_dir + "/backup/etc/initramfs-tools")
    shutil.copy(guest.path("/etc/initramfs-tools/modules"), run_dir + "/backup/etc/initramfs-tools/modules")
    guest.write("/etc/initramfs-tools/modules", original + "virtio_pci\n")
    entries = [{"op": "begin"},
               {"op": "file", "path": "/etc/initramfs-tools/modules", "existed": True, "mode": 420,
                "backup": "/var/lib/imsprep/runs/20260101T000000-1/backup/etc/initramfs-tools/modules", "reason": "x"},
               {"op": "chattr-immutable", "path": "/etc/fstab"},
               {"op": "end"}]
    with open(run_dir + "/journal.jsonl", "w") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in entries))
    def tree():  # the journal included; the lock file rollback takes is not a change
        found = snapshot(guest.root, exclude=())
        found.pop(os.path.join("var", "lib", "imsprep", "lock"), None)
        return found

    before = tree()
    for extra in (["--dry-run"], ["--yes"], ["--yes", "--force"]):
        proc = run_imsprep("rollback", "--root", guest.root, *extra)
        err = proc.stderr.decode()
        assert proc.returncode == 2, (extra, proc.stdout.decode(), err)
        assert "Traceback" not in err
        lines = [line for line in err.splitlines() if "chattr-immutable" in line]
        assert len(lines) == 1 and "journal.jsonl line 3" in lines[0], err
        assert tree() == before  # nothing restored, nothing journaled
    assert open(guest.path("/etc/initramfs-tools/modules")).read() == original + "virtio_pci\n"


def test_every_op_the_fix_writes_has_an_undo_handler():
    """The ops written by the actions and the journal are exactly those with a registered handler."""
    import re

    from imsprep.fix import undo

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "imsprep")
    written = set()
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py") and name != "undo.py":
                with open(os.path.join(dirpath, name)) as fh:
                    written |= set(re.findall(r'\{"op": "([a-z-]+)"', fh.read()))
    assert written and written <= set(undo.UNDO), written - set(undo.UNDO)
    assert {"file", "packages-removed", "tmp-image", "tmp-dir"} <= {op for op, h in undo.UNDO.items() if h.stage}
