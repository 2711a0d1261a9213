"""The RPM built for each target (packaging/build-rpm.sh: rpmbuild --define 'rhel 7' etc.) requires only
what that target's base repositories carry (tests/data/rpm-base/*.txt, each line with its source), bundles
the rest (Provides: bundled(...)), owns byte code for the target's Python, and passes rpmlint but for the
errors docs/packaging-lint.md explains."""

import os
import re
import shutil
import subprocess

import pytest
from conftest import REPO, run_imsprep

TARGETS = {"el7": ".el7", "el8": ".el8", "el9": ".el9", "openeuler": ".oe1"}
PYTHON = {"el7": "3.6", "el8": "3.6", "el9": "3.9", "openeuler": "3.7"}
PURE = ("sh", "distro", "jinja2", "markupsafe")
# rpmlint errors that do not apply to a package built outside the distribution's build system
ACCEPTED_ERRORS = {"no-signature", "no-packager-tag", "no-group-tag", "non-standard-dir-perm", "missing-dependency-to-logrotate"}
SAMPLE = os.path.join(REPO, "examples", "sample-guest")

pytestmark = pytest.mark.skipif(not shutil.which("rpmbuild") or not shutil.which("git"), reason="needs rpm and git (tests/setup-deps.sh)")


def q(*args):
    return subprocess.run(["rpm"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=True).stdout


def pins():
    with open(os.path.join(REPO, "tools", "pyz-requirements.txt")) as fh:
        lines = [line.split("#")[0].strip() for line in fh]
    return dict(line.split("==") for line in lines if line)


def base_list(target):
    caps = set()
    with open(os.path.join(REPO, "tests", "data", "rpm-base", target + ".txt")) as fh:
        for line in fh:
            cap = line.split("#")[0].strip()
            if cap:
                assert "#" in line, "no source for %r in %s.txt" % (cap, target)
                caps.add(re.sub(r"\s+", " ", cap))
    return caps


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    out = tmp_path_factory.mktemp("rpms")
    proc = subprocess.run(["sh", os.path.join(REPO, "packaging", "build-rpm.sh"), str(out)] + list(TARGETS),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = {}
    for target, dist in TARGETS.items():
        matches = sorted(out.glob("imsprep-*%s.noarch.rpm" % dist))
        assert len(matches) == 1, (target, os.listdir(str(out)))
        found[target] = str(matches[0])
    return found


@pytest.mark.parametrize("target", list(TARGETS))
def test_requires_only_what_the_base_repositories_carry(rpms, target):
    rpm = rpms[target]
    provides = {line.strip() for line in q("-qp", "--provides", rpm).splitlines()}
    requires = {re.sub(r"\s+", " ", line.strip()) for line in q("-qpR", rpm).splitlines() if line.strip()}
    needed = {r for r in requires if not r.startswith("rpmlib(") and r not in provides}
    missing = needed - base_list(target)
    assert not missing, "%s requires what its base repositories lack: %s" % (target, sorted(missing))
    assert "python(abi) = %s" % PYTHON[target] in needed

    bundled = {m.group(1): m.group(2) for m in (re.match(r"bundled\(python3-(\S+)\) = (\S+)", p) for p in provides) if m}
    files = set(q("-qpl", rpm).split())
    for name in PURE:
        if name in bundled:
            assert bundled[name] == pins()[name], (name, bundled[name])
            path = "/usr/share/imsprep/vendor/" + ("sh.py" if name == "sh" else name + "/__init__.py")
            assert path in files, path
            assert any(f.startswith("/usr/share/licenses/") and "/%s/" % name in f for f in files), name
        elif name != "markupsafe":  # markupsafe comes with the distribution's jinja2
            assert "python3-" + name in needed, "%s is neither bundled nor required" % name
    assert "sh" in bundled  # no target's base repositories have python3-sh
    for name in ("report-v1.json", "fix-v1.json", "rollback-v1.json"):
        assert "/usr/share/imsprep/imsprep/schema/" + name in files, name
    assert ("python3-psutil" in needed) == (target != "el7")  # EL7: imsprep reads /proc (imsprep/proc.py)


@pytest.mark.parametrize("target", list(TARGETS))
def test_files_license_config_and_byte_code(rpms, target):
    rpm = rpms[target]
    flags = dict(reversed(line.split(" ", 1)) for line in q("-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]", rpm).splitlines())
    for conf in ("/etc/imsprep/imsprep.conf", "/etc/imsprep/cloud-init.conf"):
        assert "c" in flags[conf] and "n" in flags[conf], (conf, flags[conf])  # %config(noreplace)
    licenses = [f for f, fl in flags.items() if "l" in fl]
    assert any(f.endswith("/LICENSE") and "imsprep" in f for f in licenses), licenses
    tag = "cpython-%s" % PYTHON[target].replace(".", "")
    for path in flags:
        if path.startswith("/usr/share/imsprep/") and path.endswith(".py"):
            d, name = os.path.split(path)
            for suffix in (".pyc", ".opt-1.pyc"):
                pyc = "%s/__pycache__/%s.%s%s" % (d, name[:-3], tag, suffix)
                assert pyc in flags, pyc
    assert not [f for f in flags if ".pyc" in f and tag not in f]
    assert "/usr/share/man/man8/imsprep.8.gz" in flags


def test_el7_payload_runs_on_python36_with_nothing_else(rpms, tmp_path):
    """RHEL 7's python3 3.6 without any python3-* package: the payload carries what it needs."""
    py36 = "/root/.pyenv/versions/3.6.15/bin/python"
    if not os.path.exists(py36):
        pytest.skip("pyenv's 3.6.15 absent")
    subprocess.run("rpm2cpio %s | cpio -idm --quiet" % rpms["el7"], shell=True, cwd=str(tmp_path), check=True)
    byte_code = sorted(str(p) for p in tmp_path.rglob("*.pyc"))
    launcher = str(tmp_path / "usr" / "bin" / "imsprep")
    with open(launcher) as fh:
        code = fh.read().replace("/usr/share/imsprep", str(tmp_path / "usr" / "share" / "imsprep"))
    proc = subprocess.run([py36, "-I", "-c", code, "check", "--root", SAMPLE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env={"PATH": "/usr/bin:/bin", "IMSPREP_CONFIG": "/nonexistent"})
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stdout == run_imsprep("check", "--root", SAMPLE).stdout.decode()
    assert sorted(str(p) for p in tmp_path.rglob("*.pyc")) == byte_code  # the packaged byte code served; none was written


@pytest.mark.skipif(not shutil.which("rpmlint"), reason="needs rpmlint (tests/setup-deps.sh)")
def test_rpmlint_has_no_error_that_applies(rpms):
    proc = subprocess.run(["rpmlint"] + sorted(rpms.values()), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    errors = re.findall(r": E: (\S+)(.*)", proc.stdout)
    unexpected = [e for e in errors if e[0] not in ACCEPTED_ERRORS or (e[0] == "non-standard-dir-perm" and "/var/lib/imsprep 700" not in e[1])]
    assert not unexpected, proc.stdout[-4000:]
    with open(os.path.join(REPO, "docs", "packaging-lint.md")) as fh:
        notes = fh.read()
    assert all("- `%s" % name in notes for name in ACCEPTED_ERRORS)  # each in the list of errors left
    # the catalogue is marked with its language (rpmlint file-not-in-%lang), the log directory owned
    assert "file-not-in-%lang" not in proc.stdout and "logrotate-log-dir-not-packaged" not in proc.stdout, proc.stdout[-4000:]


@pytest.mark.parametrize("target", ["el8", "el9"])
def test_payload_with_the_targets_library_versions(rpms, target, tmp_path):
    """The .el8/.el9 payload (its bundled sh and distro) with the distribution's jinja2, markupsafe and
    psutil at RHEL 8/9's versions (tests/requirements-elNlibs.txt, in .venv-elNlibs made by
    tests/run-pythons.sh) gives the source tree's report, plan and dry run."""
    python = os.path.join(REPO, ".venv-%slibs" % target, "bin", "python")
    if not os.path.exists(python):
        if os.environ.get("IMSPREP_REQUIRE_PYTHONS") == "1":
            pytest.fail("%s is missing: tests/run-pythons.sh makes it" % python)
        pytest.skip("no .venv-%slibs (tests/run-pythons.sh makes it)" % target)
    subprocess.run("rpm2cpio %s | cpio -idm --quiet" % rpms[target], shell=True, cwd=str(tmp_path), check=True)
    with open(str(tmp_path / "usr" / "bin" / "imsprep")) as fh:
        code = fh.read().replace("/usr/share/imsprep", str(tmp_path / "usr" / "share" / "imsprep"))
    versions = subprocess.run([python, "-c", "import jinja2, psutil; print(jinja2.__version__, psutil.__version__)"],
                              stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
    with open(os.path.join(REPO, "tests", "requirements-%slibs.txt" % target)) as fh:
        pinned = fh.read()
    assert "jinja2==%s" % versions[0] in pinned and "psutil==%s" % versions[1] in pinned
    for args in (["check", "--root", SAMPLE], ["check", "--root", SAMPLE, "--format", "json"], ["fix", "--root", SAMPLE, "--dry-run"]):
        ours = subprocess.run([python, "-c", code] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env={"PATH": "/usr/bin:/bin", "IMSPREP_CONFIG": "/nonexistent", "NO_COLOR": "1"})
        reference = run_imsprep(*args)
        assert ours.returncode == reference.returncode == 1, ours.stderr[-3000:]
        assert ours.stdout == reference.stdout.decode(), args
    live = subprocess.run([python, "-c", code, "check", "-v", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "IMSPREP_CONFIG": "/nonexistent"})
    assert live.returncode in (0, 1) and "Traceback" not in live.stderr, live.stderr[-3000:]
    assert "psutil not available" not in live.stderr  # the distribution's psutil is used
