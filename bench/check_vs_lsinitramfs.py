#!/usr/bin/env python3
"""How long `imsprep check --root` takes on the real bookworm guest versus the manual
`lsinitramfs IMAGE | grep -E 'virtio|xen'` on the same initramfs (run as root; uses the cached
guest from tests/guests.py). Prints a small table; best of N runs each."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import guests  # noqa: E402


def best(argv, runs, **kwargs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    root = guests.itools_guest()
    kver = guests.kver_of(root)
    image = "/boot/initrd.img-" + kver
    size = os.path.getsize(root + image)
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    check = best([sys.executable, "-m", "imsprep", "check", "--root", root, "--format", "json"], runs, env=env)
    with guests.chroot_mounts(root):
        manual = best(["sh", "-c", "chroot %s lsinitramfs %s | grep -E 'virtio|xen'" % (root, image)], runs)
    print("| what | seconds (best of %d) |" % runs)
    print("|---|---|")
    print("| imsprep check --root (whole guest, %d MB zstd initramfs) | %.2f |" % (size // 2**20, check))
    print("| lsinitramfs %s \\| grep -E 'virtio\\|xen' | %.2f |" % (image, manual))
    print("| ratio (manual / imsprep) | %.1fx |" % (manual / check))


if __name__ == "__main__":
    main()
