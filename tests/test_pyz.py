"""imsprep.pyz (tools/build_pyz.py): one file that runs `check` with nothing installed but Python
(3.6 and the project's own interpreter), psutil left out, knowledge base and templates read from
inside the archive. Its report is the one the source tree gives."""

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_imsprep

PY36 = "/root/.pyenv/versions/3.6.15/bin/python"
SAMPLE = os.path.join(REPO, "examples", "sample-guest")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pyz") / "imsprep.pyz")
    downloads = os.path.join(os.environ.get("IMSPREP_TEST_CACHE", "/var/tmp/imsprep-test-cache"), "pyz-downloads")
    subprocess.run([sys.executable, os.path.join(REPO, "tools", "build_pyz.py"), "-o", out, "--downloads", downloads],
                   check=True, stdout=subprocess.PIPE)
    return out


def run_pyz(python, pyz, *args):
    start = time.time()
    proc = subprocess.run([python, "-I", pyz] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=CLEAN_ENV, cwd="/", timeout=300)
    return proc, time.time() - start


def test_pyz_holds_pure_python_only(pyz):
    import zipfile

    with zipfile.ZipFile(pyz) as zf:
        names = zf.namelist()
    assert "__main__.py" in names and "sh.py" in names and "imsprep/kb/drivers.json" in names
    assert "imsprep/templates/report.txt.j2" in names and "markupsafe/_native.py" in names
    assert "imsprep/locale/zh_CN/LC_MESSAGES/imsprep.mo" in names  # compiled by build_pyz (Babel), read from the archive
    assert not [n for n in names if n.endswith((".so", ".pyc")) or n.startswith("psutil")]
    with open(pyz, "rb") as fh:
        assert fh.readline() == b"#!/usr/bin/env python3\n"


@pytest.mark.parametrize("python", [sys.executable, PY36], ids=["this-python", "python3.6"])
def test_pyz_check_with_nothing_installed(pyz, python):
    if not os.path.exists(python):
        pytest.skip("%s absent (pyenv's 3.6.15; tests/run-pythons.sh needs it too)" % python)
    if python == PY36:  # its site-packages has no imsprep dependency: what the pyz needs, it carries
        bare = subprocess.run([python, "-I", "-c", "import jinja2"], stderr=subprocess.PIPE, env=CLEAN_ENV)
        assert bare.returncode != 0
    text, seconds = run_pyz(python, pyz, "check", "--root", SAMPLE)
    assert text.returncode == 1, text.stderr[-3000:]
    assert "Traceback" not in text.stderr
    assert text.stdout == run_imsprep("check", "--root", SAMPLE).stdout.decode()
    assert "KVM  NOT READY" in text.stdout
    as_json, _ = run_pyz(python, pyz, "check", "--root", SAMPLE, "--format", "json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == json.loads(run_imsprep("check", "--root", SAMPLE, "--format", "json").stdout.decode())
    sys.stderr.write("pyz check on %s: %.2fs\n" % (python, seconds))


def test_pyz_fix_dry_run_and_live_check_on_python36(pyz):
    """The issue's crash (fix --dry-run under 3.6) and a live check without psutil, which says so at -v."""
    if not os.path.exists(PY36):
        pytest.skip("pyenv's 3.6.15 absent")
    dry, _ = run_pyz(PY36, pyz, "fix", "--root", SAMPLE, "--dry-run")
    assert dry.returncode == 1 and "dry run: nothing was changed" in dry.stdout, dry.stderr[-3000:]
    live, _ = run_pyz(PY36, pyz, "check", "-v", "--format", "json")
    assert live.returncode in (0, 1) and "Traceback" not in live.stderr, live.stderr[-3000:]
    assert "psutil not available" in live.stderr and json.loads(live.stdout)["live"] is True


@pytest.mark.parametrize("python", [sys.executable, PY36], ids=["this-python", "python3.6"])
def test_pyz_speaks_chinese_from_its_compiled_catalogue(pyz, python):
    """The .mo inside the archive (no .po there, no Babel on the guest) gives the zh_CN report."""
    if not os.path.exists(python):
        pytest.skip("%s absent" % python)
    proc = subprocess.run([python, "-I", pyz, "check", "--root", SAMPLE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(CLEAN_ENV, LANGUAGE="zh_CN"), cwd="/", timeout=300)
    out = proc.stdout.decode("utf-8")
    assert proc.returncode == 1, proc.stderr.decode()[-2000:]
    assert "未就绪" in out and "检查结果" in out and "NOT READY" not in out
