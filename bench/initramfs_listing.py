#!/usr/bin/env python3
"""Native initramfs listing versus the decompress-only floor (the segment piped through the
standard tool to /dev/null), per compression, on real images built by the bookworm guest's
mkinitramfs (tests/guests.py), with the reader's peak RSS; and a 100+ MB uncompressed image.
Prints a markdown table (best of N runs)."""

import os
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


RSS_CHILD = """
import resource, sys
sys.path.insert(0, %r)
from imsprep.facts.initramfs import InitramfsReader
from imsprep.system import System
system = System("/")
reader = InitramfsReader.on(system)
with open(sys.argv[1], "rb") as fh:
    listing = reader.list(fh, sys.argv[1])
print(len(listing.files), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def uncompressed_copy(image, offset, kind):
    """The same image with its main archive stored uncompressed (the 100+ MB case)."""
    out = os.path.join(guests.cache_dir(), "bench-uncompressed.img")
    if not os.path.exists(out):
        with open(out + ".tmp", "wb") as fh:
            with open(image, "rb") as src:
                fh.write(src.read(offset))
            fh.flush()
            subprocess.run("tail -c +%d %s | %s" % (offset + 1, image, FLOOR[kind]), shell=True, stdout=fh, check=True)
        os.rename(out + ".tmp", out)
    return out


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    system = System("/")
    reader = InitramfsReader.on(system)
    images = [("MODULES=list " + c, guests.itools_image("list", c, ["virtio_blk", "virtio_net", "ext4"])) for c in guests.COMPRESSIONS]
    images += [("MODULES=most " + c, guests.itools_image("most", c)) for c in ("gzip", "xz", "zstd", "lz4")]
    print("| image | MB | files | native listing s | decompress floor s | ratio | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for label, image in images:
        with open(image, "rb") as fh:
            listing = reader.list(fh, image)
        offset, kind = listing.segments[-1]

        def native(image=image):
            with open(image, "rb") as fh:
                reader.list(fh, image)

        def floor(command="tail -c +%d %s | %s > /dev/null" % (offset + 1, image, FLOOR[kind])):
            subprocess.run(command, shell=True)

        n, f = best(native, runs), best(floor, runs)
        child = subprocess.run([sys.executable, "-c", RSS_CHILD % os.path.join(HERE, ".."), image], capture_output=True, text=True)
        files, rss = child.stdout.split()
        print("| %s | %.1f | %s | %.3f | %.3f | %.2fx | %.0f |" % (label, os.path.getsize(image) / 2**20, files, n, f, n / f,
                                                                 int(rss) / 1024))
        if label == "MODULES=most zstd":
            big = uncompressed_copy(image, offset, kind)
            n = best(lambda big=big: reader.list(open(big, "rb"), big), runs)
            floor_big = best(lambda big=big: subprocess.run("cat %s > /dev/null" % big, shell=True), runs)
            child = subprocess.run([sys.executable, "-c", RSS_CHILD % os.path.join(HERE, ".."), big], capture_output=True, text=True)
            files, rss = child.stdout.split()
            print("| MODULES=most uncompressed | %.1f | %s | %.3f | %.3f (cat) | %.2fx | %.0f |"
                  % (os.path.getsize(big) / 2**20, files, n, floor_big, n / floor_big, int(rss) / 1024))


if __name__ == "__main__":
    main()
