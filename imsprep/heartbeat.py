"""A heartbeat during long steps (initramfs rebuilds, package removal, grub regeneration): one
line with the stage and the elapsed time, every 5 s on a terminal and every 30 s otherwise (a log
or a cloud-init console), so nobody kills what only looks hung."""

import contextlib
import sys
import threading
import time
from typing import Callable, Iterator, Optional

Progress = Callable[[str], None]


def interval() -> float:
    try:
        return 5.0 if sys.stderr.isatty() else 30.0
    except (AttributeError, ValueError):
        return 30.0


@contextlib.contextmanager
def heartbeat(progress: Progress, stage: str, every: Optional[float] = None) -> Iterator[None]:
    period = every or interval()
    started = time.time()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(period):
            progress("  ... %s: %d s" % (stage, int(time.time() - started)))

    thread = threading.Thread(target=beat, name="imsprep-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)
