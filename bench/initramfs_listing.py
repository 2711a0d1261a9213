#!/usr/bin/env python3
"""Native initramfs listing versus the decompress-only floor, per compression, on the real images
built by tests/guests.py; and the peak RSS of `imsprep check --root` on the bookworm guest.
Prints a markdown table (best of N runs)."""

import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))
import guests  # noqa: E402

from imsprep.facts.initramfs import InitramfsReader  # noqa: E402
from imsprep.system import System  # noqa: E402

FLOOR = {"gzip": "gzip -dc", "bzip2": "bzip2 -dc", "xz": "xz -dc", "lzma": "xz -dc --format=lzma", "zstd": "zstd -dcq",
         "lz4": "lz4 -dc", "lzop": "lzop -dc"}


def best(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    system = System("/")
    reader = InitramfsReader(run_host=lambda argv, stdout_file=None: system.run(argv, in_guest=False, stdout_file=stdout_file))
    print("| image | MB | native listing s | decompress floor s | ratio |")
    print("|---|---|---|---|---|")
    for compress in guests.COMPRESSIONS:
        image = guests.itools_image("list", compress, ["virtio_blk", "virtio_net", "ext4"])
        with open(image, "rb") as fh:
            offset = reader.list(fh, image).segments[-1][0]

        def native(image=image):
            with open(image, "rb") as fh:
                reader.list(fh, image)

        def floor(command="tail -c +%d %s | %s > /dev/null" % (offset + 1, image, FLOOR[compress])):
            subprocess.run(command, shell=True)

        n, f = best(native, runs), best(floor, runs)
        print("| itools %s | %.1f | %.3f | %.3f | %.2fx |" % (compress, os.path.getsize(image) / 2**20, n, f, n / f))
    root = guests.itools_guest()
    subprocess.run([sys.executable, "-m", "imsprep", "check", "--root", root, "--format", "json"], stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=os.path.join(HERE, "..")))
    print("\npeak RSS of imsprep check --root (bookworm guest): %.1f MB"
          % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
