"""The fleet playbook, run for real by ansible-playbook against a local target: it fixes a broken
guest (through imsprep_root) and collects the JSON report on the controller."""

import json
import os
import shutil
import subprocess
import sys

import guests
import pytest
from conftest import REPO, validate_report

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(ANSIBLE) or not shutil.which("debootstrap"),
                                 reason="needs root, ansible-core (test extra) and debootstrap")]


def test_playbook_fixes_and_collects(tmp_path):
    root = guests.clone_guest(guests.itools_guest(), str(tmp_path / "guest"))
    guests.break_itools(root)
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[to_image]\nguest1 ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    reports = tmp_path / "reports"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"], PYTHONPATH=REPO,
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    proc = subprocess.run([ANSIBLE, "-i", str(inventory), os.path.join(REPO, "packaging", "ansible", "imsprep.yml"),
                           "-e", "imsprep_root=%s" % root, "-e", "imsprep_fix=true", "-e", "imsprep_reports=%s" % reports],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=900)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-3000:] + proc.stderr.decode()[-2000:]
    assert "guest1: KVM ready" in out and "changed=" in out
    report = json.loads((reports / "guest1.json").read_text())
    validate_report(report)
    assert report["verdict"]["kvm"]["ready"] and report["verdict"]["xen"]["ready"]
