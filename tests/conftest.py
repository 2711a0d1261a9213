import json
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)
sys.path.insert(0, REPO)

# the tests read imsprep's English output whatever the developer's or CI's locale (tests/test_i18n.py
# sets a Chinese locale where it wants one): gettext's order is LANGUAGE, LC_ALL, LC_MESSAGES, LANG
for _name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"

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


def run_cli(*args):
    """The CLI in-process, where a subprocess adds nothing (a read-only check): (exit code, stdout,
    stderr). The signal handlers and the child-subreaper flag main() sets are put back after it."""
    import contextlib
    import ctypes
    import ctypes.util
    import io
    import signal

    from imsprep import cli
    from imsprep.signals import HANDLED, PR_SET_CHILD_SUBREAPER

    saved = {signum: signal.getsignal(signum) for signum in HANDLED}
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in args])
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    return code, out.getvalue(), err.getvalue()


def check_json(root, *extra, rc=None):
    code, out, err = run_cli("check", "--root", root, "--format", "json", *extra)
    assert code != 3 and "Traceback" not in err, err
    if rc is not None:
        assert code == rc, (code, out[-3000:], err[-3000:])
    report = json.loads(out)
    validate_report(report)
    assert report["exit_code"] == code
    return report, code


@pytest.fixture
def imsprep():
    return run_imsprep
