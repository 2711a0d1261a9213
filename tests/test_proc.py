"""imsprep.proc: the same answers with and without psutil (psutil is optional: the zipapp and
some targets' RPM do not have it)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from imsprep import proc

NO_PSUTIL = "import sys; sys.modules['psutil'] = None; "


def test_proc_fallback_reads_comm(tmp_path):
    for pid, comm in (("1", "systemd\n"), ("812", "xe-daemon\n"), ("9000", None)):
        os.makedirs(str(tmp_path / pid))
        if comm is not None:
            (tmp_path / pid / "comm").write_text(comm)
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "comm").write_text("not a pid\n")
    (tmp_path / "meminfo").write_text("MemTotal: 1 kB\n")
    assert sorted(proc.process_names(str(tmp_path))) == ["systemd", "xe-daemon"]


def test_fallback_sees_this_process_like_psutil_does():
    psutil = pytest.importorskip("psutil")
    me = psutil.Process().name()
    out = subprocess.run([sys.executable, "-c", NO_PSUTIL + "from imsprep import proc; print('\\n'.join(proc.process_names()))"],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout.split("\n")
    assert me[:15] in out  # the kernel's comm is at most 15 characters


def test_statvfs_free_space_matches_psutil(tmp_path):
    psutil = pytest.importorskip("psutil")
    ours = proc.disk_free(str(tmp_path), use_psutil=False)
    theirs = psutil.disk_usage(str(tmp_path)).free
    assert ours > 0 and abs(ours - theirs) < 64 * 1024 * 1024, (ours, theirs)


def test_live_check_without_psutil_says_so_in_verbose():
    code = NO_PSUTIL + "from imsprep.cli import main; sys.exit(main(['check', '-v', '--format', 'json']))"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=600)
    assert run.returncode in (0, 1), run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "psutil not available" in run.stderr and "reading /proc and statvfs instead" in run.stderr
    assert json.loads(run.stdout)["live"] is True
