"""Files the packages ship that are not Python: the logrotate rule, run by a real logrotate, and the
shell scripts of the repository, checked by shellcheck."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

LOGROTATE = os.path.join(REPO, "packaging", "logrotate", "imsprep")
# the ones a new script must not slip past: the discovery below has to find at least these
KNOWN_SHELL_SCRIPTS = {"packaging/build-deb.sh", "packaging/build-rpm.sh", "packaging/cloud-init/imsprep-cloud-init-hook",
                       "packaging/cloud-init/imsprep-clean", "packaging/debian/imsprep.postrm", "tests/setup-deps.sh",
                       "tests/run-pythons.sh", ".ci/run"}


def shell_scripts():
    """Every tracked file that is a shell script: a *.sh name or a #! line naming a shell."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, stdout=subprocess.PIPE, check=True).stdout.decode().split("\0")
    found = []
    for name in filter(None, names):
        path = os.path.join(REPO, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            first = fh.readline()
        if name.endswith(".sh") or re.match(rb"#!\s*\S*/(env\s+)?(ba|da|k|z)?sh\b", first):
            found.append(name)
    return sorted(found)


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


@pytest.mark.skipif(not shutil.which("shellcheck") or not shutil.which("git"), reason="needs shellcheck and git (tests/setup-deps.sh)")
def test_every_shell_script_passes_shellcheck():
    """Every shell script in the repository, at shellcheck's default level (errors, warnings and info
    notes: none left). Each script's shell is the one its #! line names; a sourced file named by a
    `# shellcheck source=` directive is followed (.shellcheckrc: external-sources)."""
    scripts = shell_scripts()
    assert KNOWN_SHELL_SCRIPTS <= set(scripts), KNOWN_SHELL_SCRIPTS - set(scripts)
    proc = subprocess.run(["shellcheck", "--format=gcc"] + scripts, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


ANSIBLE_LINT = os.path.join(os.path.dirname(sys.executable), "ansible-lint")


@pytest.mark.skipif(not os.path.exists(ANSIBLE_LINT), reason="needs ansible-lint (test extra)")
def test_ansible_role_and_playbook_pass_ansible_lint_production(tmp_path):
    """The playbook and its role pass ansible-lint's strictest profile, `production`, with no failure
    and no warning (ansible-lint exits 2 on a failure; a warning is only printed)."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"], NO_COLOR="1",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    proc = subprocess.run([ANSIBLE_LINT, "--offline", "--profile", "production", "packaging/ansible"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert re.search(r"Passed: 0 failure\(s\), 0 warning\(s\) in [1-9]\d* files", proc.stdout), proc.stdout[-4000:]
