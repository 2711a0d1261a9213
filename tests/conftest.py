import json
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
sys.path.insert(0, REPO)

from fakeguest import FakeGuest  # noqa: E402


@pytest.fixture
def guest(tmp_path):
    return FakeGuest(str(tmp_path / "guest"))


def run_imsprep(*args, check_rc=None):
    """Run the CLI as a user does, in a subprocess."""
    env = dict(os.environ, PYTHONPATH=REPO, NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "imsprep"] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, timeout=600)
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:])
    return proc


def validate_report(report):
    """Every JSON report a test sees is validated against the published schema."""
    import jsonschema

    with open(os.path.join(REPO, "schema", "report-v1.json")) as fh:
        jsonschema.validate(report, json.load(fh))


def check_json(root, *extra, rc=None):
    proc = run_imsprep("check", "--root", root, "--format", "json", *extra, check_rc=rc)
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    report = json.loads(proc.stdout.decode())
    validate_report(report)
    assert report["exit_code"] == proc.returncode
    return report, proc.returncode


@pytest.fixture
def imsprep():
    return run_imsprep
