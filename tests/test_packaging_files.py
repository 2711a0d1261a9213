"""Files the packages ship that are not Python: the logrotate rule, run by a real logrotate, and the
packaging shell scripts, checked by shellcheck."""

import os
import shutil
import subprocess

import pytest
from conftest import REPO

LOGROTATE = os.path.join(REPO, "packaging", "logrotate", "imsprep")
SHELL_SCRIPTS = ["packaging/build-deb.sh", "packaging/build-rpm.sh", "packaging/cloud-init/imsprep-cloud-init-hook",
                 "packaging/debian/imsprep.postrm", "tests/setup-deps.sh"]


@pytest.mark.skipif(not shutil.which("logrotate"), reason="needs logrotate (tests/setup-deps.sh)")
def test_logrotate_rotates_imsprep_logs(tmp_path):
    with open(LOGROTATE) as fh:
        rule = fh.read()
    assert "/var/log/imsprep/*.log {" in rule
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "changes.log").write_text("2026-11-30T23:00:00Z fix: edited /etc/fstab\n")
    (logs / "cloud-init.log").write_text("imsprep exit code: 0\n")
    (logs / "report-2026-11-30T23:00:00Z.json").write_text("{}\n")
    config = tmp_path / "imsprep.logrotate"
    config.write_text(rule.replace("/var/log/imsprep/", str(logs) + "/"))
    os.chmod(str(config), 0o644)
    for _ in range(2):  # delaycompress: the first rotation keeps .1 plain, the second compresses it
        proc = subprocess.run(["logrotate", "--force", "--state", str(tmp_path / "state"), str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        (logs / "changes.log").write_text("next run\n")
    names = sorted(os.listdir(str(logs)))
    assert "changes.log.1" in names and "changes.log.2.gz" in names and "cloud-init.log.1" in names
    assert "report-2026-11-30T23:00:00Z.json" in names  # only *.log is rotated


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="needs shellcheck (tests/setup-deps.sh)")
def test_packaging_shell_scripts_pass_shellcheck():
    """No warning or error (info-level notes, e.g. not following a sourced /etc file, are allowed)."""
    proc = subprocess.run(["shellcheck", "--shell=sh", "--severity=warning"] + SHELL_SCRIPTS, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
