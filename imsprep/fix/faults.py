"""Fault injection for the crash tests: ``IMSPREP_FAULT_INJECT=<point>`` makes the process kill
itself with SIGKILL when it reaches that point, exactly as a power cut or `kill -9` would. Unset
(always, outside the tests) it does nothing."""

import os
import signal

POINTS = ("after-backup", "before-replace", "after-replace", "during-suite-removal")


def fault_point(name: str) -> None:
    if os.environ.get("IMSPREP_FAULT_INJECT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
