"""The fleet playbook (the role packaging/ansible/roles/imsprep), run for real by ansible-playbook
against a local target: it fixes a broken guest (through imsprep_root) and collects the JSON report
on the controller. Variables come from where admins put them: the inventory's group vars override the
role's defaults (imsprep_fix, imsprep_reports), and -e overrides the inventory (imsprep_root)."""

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
    reports = tmp_path / "reports"
    inventory.write_text("[to_image]\nguest1 ansible_connection=local ansible_python_interpreter=%s\n\n"
                         "[to_image:vars]\nimsprep_fix=true\nimsprep_reports=%s\nimsprep_root=/nonexistent-overridden-by-e\n"
                         % (sys.executable, reports))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"], PYTHONPATH=REPO,
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    proc = subprocess.run([ANSIBLE, "-i", str(inventory), os.path.join(REPO, "packaging", "ansible", "imsprep.yml"),
                           "-e", "imsprep_root=%s" % root],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=900)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-3000:] + proc.stderr.decode()[-2000:]
    assert "guest1: KVM ready" in out
    # imsprep_fix=true from the inventory took effect: the fix task ran and changed the guest
    assert "TASK [imsprep : Fix (PV suites" in out and "changed: [guest1]" in out.split("TASK [imsprep : Fix")[1].split("TASK [")[0]
    report = json.loads((reports / "guest1.json").read_text())
    validate_report(report)
    assert report["verdict"]["kvm"]["ready"] and report["verdict"]["xen"]["ready"]
