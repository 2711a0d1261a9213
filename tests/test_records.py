"""The published JSON schemas (schema/*.json, shipped in the wheel as imsprep/schema) against real
output of `imsprep fix --format json`, dry run and applied, and the compatibility promise they make:
fields may be added within a version, so no object may forbid unknown keys."""

import copy
import glob
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import jsonschema
import pytest
from conftest import REPO, run_imsprep, validate_report
from test_check_fake import debian_guest

SCHEMAS = os.path.join(REPO, "schema")


def load(name):
    with open(os.path.join(SCHEMAS, name)) as fh:
        return json.load(fh)


def fix_validator():
    # referencing (jsonschema >= 4.18) is not installable on Python 3.6: validation is about the JSON,
    # not the interpreter, so those checks run under the newer Pythons only
    referencing = pytest.importorskip("referencing")
    Registry, Resource = referencing.Registry, referencing.Resource
    report, fix = load("report-v1.json"), load("fix-v1.json")
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in (report, fix)])
    return jsonschema.Draft202012Validator(fix, registry=registry)


def validate_fix(result):
    fix_validator().validate(result)


def blocked_guest(tmp_path):
    """A Debian guest whose drivers a PV suite's modprobe rule blocks: fix comments the rule out."""
    guest, _ = debian_guest(tmp_path / "g")
    guest.write("/etc/modprobe.d/pv.conf", "# left by a PV suite\nblacklist xen_blkfront\ninstall virtio_blk /bin/true\n")
    return guest


@pytest.mark.skipif(not hasattr(jsonschema, "Draft202012Validator"), reason="jsonschema too old (Python 3.6)")
def test_schemas_are_valid_and_ids_match_file_names():
    for path in sorted(glob.glob(os.path.join(SCHEMAS, "*.json"))):
        with open(path) as fh:
            schema = json.load(fh)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith("/schema/" + os.path.basename(path))


def test_promise_and_additional_properties_agree():
    """'fields may be added within a version': so no object of any schema says additionalProperties false."""
    def walk(node, where):
        if isinstance(node, dict):
            assert node.get("additionalProperties", True) is not False, where
            for key, value in node.items():
                walk(value, where + "/" + key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, "%s/%d" % (where, i))
    for name in ("report-v1.json", "fix-v1.json", "rollback-v1.json"):
        schema = load(name)
        assert "fields may be added" in schema["description"]
        walk(schema, name)


def test_dry_run_json_follows_fix_schema(tmp_path):
    guest = blocked_guest(tmp_path)
    proc = run_imsprep("fix", "--root", guest.root, "--dry-run", "--format", "json")
    assert proc.returncode == 1, proc.stderr.decode()[-2000:]
    result = json.loads(proc.stdout.decode())
    validate_fix(result)
    validate_report(result["report"])
    assert result["schema"] == "imsprep-fix/1" and result["applied"] is None
    assert [a["kind"] for a in result["plan"]["actions"]] == ["edit-file"]
    assert "-blacklist xen_blkfront" in result["plan"]["actions"][0]["diff"]
    assert result["report"]["ready"] is False


def test_applied_fix_json_follows_fix_schema(tmp_path):
    guest = blocked_guest(tmp_path)
    proc = run_imsprep("fix", "--root", guest.root, "--yes", "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    result = json.loads(proc.stdout.decode())
    validate_fix(result)
    assert result["schema"] == "imsprep-fix/1"
    assert len(result["applied"]["done"]) == 1 and result["applied"]["failed"] == []
    assert result["report"]["ready"] is True and result["report"]["exit_code"] == 0


def test_schemas_accept_added_fields_and_reject_broken_output(tmp_path):
    guest = blocked_guest(tmp_path)
    result = json.loads(run_imsprep("fix", "--root", guest.root, "--dry-run", "--format", "json").stdout.decode())
    grown = copy.deepcopy(result)
    grown["duration_s"] = 1.5
    grown["plan"]["actions"][0]["seconds"] = 0.1
    grown["report"]["hostname"] = "web01"
    grown["report"]["findings"][0]["added_in_1_1"] = True
    grown["report"]["kernels"][0]["added_too"] = []
    validate_fix(grown)  # a newer 1.x reader's fields: still version 1
    validator = fix_validator()
    for breakage in (lambda r: r.pop("plan"), lambda r: r.__setitem__("schema", "imsprep-fix/2"),
                     lambda r: r.__setitem__("applied", {"done": "all"}), lambda r: r["plan"]["actions"][0].pop("kind"),
                     lambda r: r["report"].pop("verdict"), lambda r: r["report"].__setitem__("ready", "yes")):
        broken = copy.deepcopy(result)
        breakage(broken)
        assert not validator.is_valid(broken)


def run_json(capsys, *argv):
    """The CLI in-process (nothing a subprocess would add here): exit code and the JSON on stdout."""
    from imsprep import cli

    capsys.readouterr()
    code = cli.main([str(a) for a in argv] + ["--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def rollback_validator():
    """None where jsonschema is too old for the 2020-12 draft (Python 3.6): the rollback itself is
    still tested there, the schema checks run under the newer Pythons."""
    if not hasattr(jsonschema, "Draft202012Validator"):
        return None
    return jsonschema.Draft202012Validator(load("rollback-v1.json"))


def test_rollback_json_follows_rollback_schema(tmp_path, capsys, monkeypatch):
    """Real rollback output (dry run, complete, nothing left, kept) validates; broken output does not."""
    monkeypatch.setenv("IMSPREP_REPORT_DIR", str(tmp_path / "reports"))
    validator = rollback_validator()

    def validate(result):
        if validator is not None:
            validator.validate(result)

    guest = blocked_guest(tmp_path)
    original = open(guest.path("/etc/modprobe.d/pv.conf")).read()
    code, fixed = run_json(capsys, "fix", "--root", guest.root, "--yes")
    assert code == 0 and fixed["applied"]["done"]

    code, dry = run_json(capsys, "rollback", "--root", guest.root, "--dry-run")
    validate(dry)
    assert code == 0 and dry["schema_version"] == 1 and dry["schema"] == "imsprep-rollback/1" and dry["dry_run"] is True
    assert dry["changed"] == ["/etc/modprobe.d/pv.conf"] and dry["done"] == ["restored /etc/modprobe.d/pv.conf"]
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() != original  # a dry run changes nothing

    code, done = run_json(capsys, "rollback", "--root", guest.root, "--yes")
    validate(done)
    assert code == 0 == done["exit_code"] and done["complete"] is True and done["dry_run"] is False
    assert done["run"] == dry["run"] and done["kept"] == [] and done["failed"] == []
    assert open(guest.path("/etc/modprobe.d/pv.conf")).read() == original

    code, nothing = run_json(capsys, "rollback", "--root", guest.root, "--yes")
    validate(nothing)
    assert code == 0 and nothing["run"] is None and nothing["changed"] == [] and nothing["complete"] is True

    # a file edited after the fix is kept: exit 1, named with its diff. The fix runs in its own
    # process: a run's id is its start second and pid, and the first run (this pid) may share the second
    run_imsprep("fix", "--root", guest.root, "--yes", check_rc=0)
    with open(guest.path("/etc/modprobe.d/pv.conf"), "a") as fh:
        fh.write("# the admin's own line\n")
    code, kept = run_json(capsys, "rollback", "--root", guest.root, "--yes")
    validate(kept)
    assert code == 1 == kept["exit_code"] and kept["complete"] is False
    assert kept["kept"] == ["/etc/modprobe.d/pv.conf"] and "the admin's own line" not in original
    assert len(kept["diffs"]) == 1 and kept["diffs"][0].startswith("/etc/modprobe.d/pv.conf changed since the fix")

    if validator is None:
        pytest.skip("jsonschema too old for the 2020-12 draft (Python 3.6): the rollback was checked, not its schema")
    grown = copy.deepcopy(kept)
    grown["seconds"] = 0.4
    grown["packages"] = [{"name": "xe-guest-utilities", "version": "7.20.2-0ubuntu1", "arch": "amd64"}]
    validator.validate(grown)  # fields added within version 1
    for breakage in (lambda r: r.pop("schema_version"), lambda r: r.__setitem__("schema_version", 2),
                     lambda r: r.__setitem__("kept", "all"), lambda r: r.__setitem__("run", 5),
                     lambda r: r.__setitem__("packages", [{"version": "1"}]), lambda r: r.pop("complete")):
        broken = copy.deepcopy(kept)
        breakage(broken)
        assert not validator.is_valid(broken)


@pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, ".git")) and not os.path.isfile(os.path.join(REPO, ".git")),
                    reason="needs the git checkout (the wheel is built from its tracked files)")
@pytest.mark.skipif(sys.version_info < (3, 7), reason="Python 3.6's setuptools cannot build from pyproject.toml alone; packages are built with the build host's Python")
def test_wheel_and_sdist_ship_schemas_and_completion_generator(tmp_path):
    pytest.importorskip("wheel")  # --no-build-isolation builds with this venv's own wheel package
    src = tmp_path / "src"
    src.mkdir()
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, stdout=subprocess.PIPE, check=True).stdout.split(b"\0")
    subprocess.run(["cp", "--parents", "-t", str(src)] + [f.decode() for f in files if f and os.path.exists(os.path.join(REPO, f.decode()))],
                   cwd=REPO, check=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("imsprep-*.whl"))
    names = zipfile.ZipFile(str(wheel)).namelist()
    for name in ("imsprep/schema/report-v1.json", "imsprep/schema/fix-v1.json", "imsprep/schema/rollback-v1.json",
                 "imsprep/bootloaders/systemd_boot.py", "imsprep/completion.py",
                 "imsprep/locale/zh_CN/LC_MESSAGES/imsprep.mo"):  # compiled by setup.py's build_py (Babel)
        assert name in names, name
    with zipfile.ZipFile(str(wheel)) as whl:
        assert json.loads(whl.read("imsprep/schema/fix-v1.json")) == load("fix-v1.json")
    # the RPM is built from the sdist
    proc = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))",
                           str(tmp_path / "sdist")], cwd=str(src), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with tarfile.open(str(tmp_path / "sdist" / proc.stdout.split()[-1])) as sdist:
        names = ["/".join(n.split("/")[1:]) for n in sdist.getnames()]
    for name in ("schema/report-v1.json", "schema/fix-v1.json", "schema/rollback-v1.json", "imsprep/completion.py",
                 "imsprep/locale/zh_CN/LC_MESSAGES/imsprep.po", "setup.py"):
        assert name in names, name


def test_check_and_fix_keep_their_reports_in_utc_named_files(tmp_path, monkeypatch):
    import re

    from test_check_fake import debian_guest

    from imsprep import cli

    reports = tmp_path / "reports"
    monkeypatch.setenv("IMSPREP_REPORT_DIR", str(reports))
    guest, kver = debian_guest(tmp_path / "g")
    guest.write("/etc/udev/rules.d/70-persistent-net.rules", 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n')
    assert cli.main(["check", "--root", guest.root, "-q"]) in (0, 1)
    assert cli.main(["fix", "--root", guest.root, "--yes", "-q"]) in (0, 1)
    names = sorted(os.listdir(str(reports)))
    assert [n.split("-")[0] for n in names] == ["check", "fix"], names
    for name in names:
        assert re.match(r"^(check|fix)-\d{8}T\d{6}Z-offline-g\.json$", name), name
    with open(str(reports / names[1])) as fh:
        assert json.load(fh)["schema"] == "imsprep-fix/1"
    with open(guest.path("/var/log/imsprep/changes.log")) as fh:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ imsprep\[", fh.readline())
