"""Peak memory of ``imsprep check --format json`` on hostile inputs (issue #10).

Builds a small Debian guest tree (tests/fakeguest.py) and replaces its /etc/fstab with each case
in turn, runs the CLI in a child process, and prints the child's peak RSS
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, one fresh measuring process per case) and
its wall time. Usage: python3 bench/hostile_memory.py [--lines N]"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

MEASURE = r"""
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
print(p.returncode, len(p.stdout), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak(argv):
    """(exit code, stdout bytes, peak RSS in KiB) of argv, measured in a fresh process."""
    env = dict(os.environ, PYTHONPATH=REPO, NO_COLOR="1")
    out = subprocess.run([sys.executable, "-c", MEASURE] + argv, stdout=subprocess.PIPE, env=env, check=True)
    rc, size, rss = out.stdout.decode().split()
    return int(rc), int(size), int(rss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1200000, help="lines of the big fstab (default 1.2 M: about 50 MB)")
    args = parser.parse_args()
    from test_check_fake import debian_guest

    with tempfile.TemporaryDirectory() as tmp:
        guest, _ = debian_guest(os.path.join(tmp, "g"))
        line = "/dev/xvdb1 /data ext4 defaults,noatime 0 2\n"  # 1.2 M lines of it: about 50 MB
        cases = [
            ("baseline (a 1-line fstab)", line),
            ("fstab of %d lines (%.1f MB)" % (args.lines, args.lines * len(line) / 1e6), line * args.lines),
        ]
        argv = [sys.executable, "-m", "imsprep", "check", "--root", guest.root, "--format", "json"]
        print("%-40s %6s %12s %10s %8s" % ("case", "exit", "json bytes", "peak MiB", "seconds"))
        for name, text in cases:
            guest.write("/etc/fstab", text)
            start = time.time()
            rc, size, rss = peak(argv)
            print("%-40s %6d %12d %10.1f %8.1f" % (name, rc, size, rss / 1024.0, time.time() - start))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
