"""Generators and package managers as strategies found through a registry; the knowledge base
validated when it is loaded (a misspelled key is exit 2 with one clear line)."""

import json
import os
import re
import shutil

import pytest
from conftest import REPO, check_json, run_imsprep
from fakeguest import FakeGuest
from test_check_fake import debian_guest
from test_fix_plan import dracut_guest, plan_for

from imsprep import generators, kbschema, pkgmgr
from imsprep.errors import UserError
from imsprep.facts import gather
from imsprep.generators.base import GeneratorInfo
from imsprep.knowledge import Knowledge
from imsprep.system import System

CHECKS = os.path.join(REPO, "checks")


def test_every_generator_of_the_knowledge_base_has_its_strategy():
    knowledge = Knowledge()
    assert generators.names() == sorted(knowledge.generators)
    for name, spec in knowledge.generators.items():
        strategy = generators.lookup(knowledge, name)
        assert strategy is not None and strategy.name == name and type(strategy).name == name
        # the knowledge base feeds the strategy: no second copy of these paths in code
        assert (strategy.label, strategy.config_files, strategy.config_dirs, strategy.lister, strategy.image_names) == (
            spec["label"], spec["config_files"], spec["config_dirs"], spec["lister"], spec["image_names"])
        assert strategy.dropin.startswith("/etc/")
    assert generators.lookup(knowledge, None) is None
    assert generators.lookup(knowledge, "no-such-generator") is None


def test_package_manager_registry():
    assert pkgmgr.names() == ["dpkg", "rpm"]
    dpkg, rpm = pkgmgr.lookup("dpkg"), pkgmgr.lookup("rpm")
    assert dpkg is not None and rpm is not None and pkgmgr.lookup("pacman") is None and pkgmgr.lookup(None) is None
    assert dpkg.remove_argv(["a", "b"]) == ["dpkg", "--purge", "a", "b"]
    assert rpm.reinstall_argv(["/x.rpm"]) == ["rpm", "-i", "--replacepkgs", "/x.rpm"]
    assert (dpkg.family, rpm.family) == ("debian", "rhel")


def test_package_database_detected_through_the_registry(tmp_path):
    guest, _ = debian_guest(tmp_path / "d", modules=None)
    assert pkgmgr.detect(System(guest.root)) == "dpkg"
    rpm_guest = FakeGuest(tmp_path / "r")
    os.makedirs(rpm_guest.path("/usr/lib/sysimage/rpm"))
    assert pkgmgr.detect(System(rpm_guest.root)) == "rpm"
    assert pkgmgr.detect(System(FakeGuest(tmp_path / "n").root)) is None


@pytest.mark.parametrize("name", ["dracut", "initramfs-tools", "suse-mkinitrd"])
def test_remedy_text_names_what_fix_writes(name):
    """One source of truth: the remedy names the strategy's drop-in, and the drop-in fix writes
    (to that same file) names the modules the remedy lists."""
    strategy = generators.lookup(Knowledge(), name)
    modules = ["virtio_blk", "xen_blkfront"]
    remedy = strategy.persist_remedy(modules)
    assert strategy.dropin in remedy and all(m in remedy for m in modules)
    written = strategy.dropin_text(None, GeneratorInfo(), modules, "0.0-test")
    assert written is not None and all(m in written for m in modules)
    named = re.findall(r"/etc/[\w./-]+", remedy)
    assert named == [strategy.dropin], remedy
    # already there: nothing more to write
    assert strategy.dropin_text(written, GeneratorInfo(), modules, "0.0-test") is None


@pytest.mark.parametrize("name", ["dracut", "initramfs-tools"])
def test_fixture_remedy_and_plan_name_the_strategys_file(tmp_path, name):
    if name == "dracut":
        guest = dracut_guest(tmp_path / "g")
    else:
        guest, _ = debian_guest(tmp_path / "g", modules=["ext4"])
        guest.write("/etc/initramfs-tools/initramfs.conf", "MODULES=dep\n")
    strategy = generators.lookup(Knowledge(), name)
    report, rc = check_json(guest.root)
    assert rc == 1 and report["generator"]["active"] == name
    persist = [f["remediation"] for f in report["findings"] if f["code"] == "DRIVERS_NOT_PERSISTENT"]
    assert persist and all(strategy.dropin in text for text in persist)
    _, _, plan = plan_for(guest.root)
    assert [a.path for a in plan.actions if a.kind == "edit-file"] == [strategy.dropin]


def _dpkg_guest_with_suite(root, arch):
    guest, _ = debian_guest(root)
    guest.write("/var/lib/dpkg/status", "".join(
        "Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: %s\n\n" % (n, a, v)
        for n, a, v in [("initramfs-tools", "all", "0.142+deb12u1"), ("linux-image-6.1.0-50-amd64", arch, "6.1.176-1"),
                        ("xe-guest-utilities", arch, "7.20.2-0ubuntu1")]))
    guest.executable("/usr/sbin/xe-daemon")
    # a Multi-Arch: same package's info files carry the architecture in their name
    guest.write("/var/lib/dpkg/info/xe-guest-utilities:%s.conffiles" % arch, "/etc/init.d/xe-linux-distribution\n")
    guest.write("/var/lib/dpkg/info/xe-guest-utilities:%s.list" % arch, "/usr/sbin/xe-daemon\n")
    return guest


@pytest.mark.parametrize("arch", ["arm64", "i386"])
def test_dpkg_conffiles_of_a_non_amd64_package(tmp_path, arch):
    guest = _dpkg_guest_with_suite(tmp_path / "g", arch)
    system = System(guest.root)
    dpkg = pkgmgr.lookup("dpkg")
    packages = dpkg.read_installed(system)
    assert packages.arch["xe-guest-utilities"] == arch
    assert dpkg.conffiles(system, "xe-guest-utilities", packages) == ["/etc/init.d/xe-linux-distribution"]
    # gathered once with the suites; fix plans from those facts (the file is backed up first)
    facts = gather(system, Knowledge())
    suite = next(s for s in facts.suites if "xe-guest-utilities" in s.removable)
    assert suite.conffiles["xe-guest-utilities"] == ["/etc/init.d/xe-linux-distribution"]
    _, _, plan = plan_for(guest.root, targets=("kvm",))
    removal = next(a for a in plan.actions if a.kind == "remove-suite")
    assert "/etc/init.d/xe-linux-distribution" in removal.files


def _kb_copy(tmp_path, name, edit):
    data_dir = tmp_path / "data"
    shutil.copytree(CHECKS, str(data_dir / "checks"))
    path = data_dir / "checks" / name
    with open(str(path)) as fh:
        data = json.load(fh)
    edit(data)
    with open(str(path), "w") as fh:
        json.dump(data, fh)
    return str(data_dir)


def _rename(container, old, new):
    container[new] = container.pop(old)


@pytest.mark.parametrize("name,edit,expected", [
    ("generators.json", lambda d: _rename(d["generators"]["dracut"], "lister", "listr"),
     "generators.dracut: unknown key 'listr'"),
    ("drivers.json", lambda d: _rename(d["targets"]["kvm"]["drivers"][0], "symbols", "symbol"),
     "targets.kvm.drivers[0]: unknown key 'symbol'"),
    ("pv_suites.json", lambda d: _rename(d["suites"][0], "packages", "pakages"),
     "suites[0]: unknown key 'pakages'"),
    ("distros.json", lambda d: d.__setitem__("generator_preferences", {}),
     "unknown key 'generator_preferences'"),
    ("seal.json", lambda d: d.__setitem__("max_users", "many"), "max_users: must be a number"),
    ("generators.json", lambda d: d["generators"].__setitem__("mkinitcpio", dict(d["generators"]["dracut"])),
     "generators.mkinitcpio: no such generator strategy"),
])
def test_misspelled_knowledge_base_key_is_exit_2(tmp_path, monkeypatch, name, edit, expected):
    guest, _ = debian_guest(tmp_path / "g", modules=None)
    monkeypatch.setenv("IMSPREP_DATA_DIR", _kb_copy(tmp_path, name, edit))
    command = ("seal", "--root", guest.root, "--dry-run") if name == "seal.json" else ("check", "--root", guest.root)
    proc = run_imsprep(*command)
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert expected in err and name in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_shipped_knowledge_base_is_valid_and_every_key_is_read():
    """Every key the schema allows is read somewhere in imsprep (else it would be dead data)."""
    for name in kbschema.SCHEMAS:
        with open(os.path.join(CHECKS, name)) as fh:
            assert kbschema.problems(json.load(fh), kbschema.SCHEMAS[name]) == [], name
    sources = []
    for directory, _, files in os.walk(os.path.join(REPO, "imsprep")):
        for file_name in files:
            if file_name.endswith(".py") and file_name != "kbschema.py":
                with open(os.path.join(directory, file_name)) as fh:
                    sources.append(fh.read())
    text = "\n".join(sources)

    def keys(spec):
        if isinstance(spec, kbschema.Obj):
            for key, value in spec.keys.items():
                yield key
                yield from keys(value)
        elif isinstance(spec, kbschema.Map):
            yield from keys(spec.values)
        elif isinstance(spec, list):
            yield from keys(spec[0])

    unread = sorted({k for spec in kbschema.SCHEMAS.values() for k in keys(spec)
                     if '"%s"' % k not in text and "'%s'" % k not in text and ".%s" % k not in text})
    assert unread == []


def test_validator_reports_wrong_types_and_missing_keys():
    spec = kbschema.Obj({"a": [str], "b": kbschema.Map(int)}, optional=["b"])
    assert kbschema.problems({"a": ["x"], "b": {"k": 1}, "_c": 0}, spec) == []
    assert kbschema.problems({"b": {"k": True}}, spec) == ["b.k: must be a number", "(top level): missing key 'a'"]
    with pytest.raises(UserError) as info:
        kbschema.validate("drivers.json", {"targets": {}, "xen_pv_only_symbols": "x"}, "/kb/drivers.json")
    assert str(info.value) == "knowledge base /kb/drivers.json: xen_pv_only_symbols: must be a list"


def test_dpkg_builds_no_path_from_a_hostile_package_name(tmp_path):
    guest = FakeGuest(tmp_path / "g")
    guest.write("/var/lib/dpkg/status", "Package: ../../../etc/x\nStatus: install ok installed\nArchitecture: ../y\nVersion: 1\n\n"
                                        "Package: ok\nStatus: install ok installed\nArchitecture: ../y\nVersion: 1\n\n")
    guest.write("/etc/x.conffiles", "/etc/leaked\n")
    guest.write("/var/lib/dpkg/y.conffiles", "/etc/leaked\n")
    system = System(guest.root)
    dpkg = pkgmgr.lookup("dpkg")
    packages = dpkg.read_installed(system)
    assert sorted(packages.versions) == ["../../../etc/x", "ok"]
    assert dpkg.conffiles(system, "../../../etc/x", packages) == [] and dpkg.conffiles(system, "ok", packages) == []


@pytest.mark.parametrize("name", ["dracut", "initramfs-tools", "suse-mkinitrd"])
def test_rebuild_runs_a_program_the_sandbox_confines_as_a_build(name):
    from imsprep.fix.sandbox import BUILD_PROGRAMS

    strategy = generators.lookup(Knowledge(), name)
    for live in (True, False):
        argv = strategy.rebuild_argv("6.1.0-50-amd64", "/boot/vmlinuz-6.1.0-50-amd64", ["virtio_blk"], live, None)("/boot/new")
        assert argv[0] in strategy.build_programs and argv[0] in BUILD_PROGRAMS and "/boot/new" in argv, argv
