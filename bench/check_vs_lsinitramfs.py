#!/usr/bin/env python3
"""`imsprep check --root` on a guest with 3 installed kernels (Debian 5.10, 6.1, 6.12, each with
a real zstd initramfs built by the guest's mkinitramfs) versus the manual loop
`lsinitramfs IMAGE | grep -E 'virtio|xen'` over the same 3 images; cold (no cache) and warm
(listings cached in /var/cache/imsprep). Run as root; uses tests/guests.py artifacts."""

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
    root = guests.three_kernel_guest()
    images = sorted("/boot/" + n for n in os.listdir(root + "/boot") if n.startswith("initrd.img-"))
    total = sum(os.path.getsize(root + i) for i in images) >> 20
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    check = [sys.executable, "-m", "imsprep", "check", "--root", root, "--format", "json"]
    cold = best(check + ["--no-cache"], runs, env=env)
    subprocess.run(check, env=env, stdout=subprocess.DEVNULL)
    warm = best(check, runs, env=env)
    loop = "; ".join("lsinitramfs %s | grep -E 'virtio|xen'" % i for i in images)
    with guests.chroot_mounts(root):
        manual = best(["chroot", root, "sh", "-c", loop], runs)
    print("| %d kernels, %d MB of zstd initramfs | seconds (best of %d) | manual / this |" % (len(images), total, runs))
    print("|---|---|---|")
    print("| manual loop: lsinitramfs IMAGE \\| grep -E 'virtio\\|xen' | %.2f | 1.0x |" % manual)
    print("| imsprep check --root --no-cache (every probe, every image read) | %.2f | %.1fx |" % (cold, manual / cold))
    print("| imsprep check --root (listings cached) | %.2f | %.1fx |" % (warm, manual / warm))


if __name__ == "__main__":
    main()
