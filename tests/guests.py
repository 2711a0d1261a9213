"""Real test artifacts, built once and cached outside the repository.

- Debian kernel packages (bullseye 5.10, bookworm 6.1, trixie 6.12) downloaded with apt into a
  private apt state directory (the host's apt configuration is not touched), unpacked with
  dpkg-deb, and given their modules.dep with the real depmod.
- Debian bookworm guests made with debootstrap: one with initramfs-tools, one with dracut.
- Real initramfs images built inside those guests by their own generators, in every compression.

Cache: $IMSPREP_TEST_CACHE (default /var/tmp/imsprep-test-cache). Every artifact is built in a
temporary directory and renamed into place when complete, so an interrupted build is redone.
Run ``python3 tests/guests.py`` to build everything ahead of the tests (CI does).
"""

import contextlib
import fcntl
import glob
import os
import shutil
import subprocess
import sys
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple


def _host_mirror() -> str:
    """Debian's mirror as this host's apt is configured (deb822 ``*.sources`` first, then
    ``sources.list``): the guests are built from the same place the host installs from."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, errors="replace") as fh:
            for stanza in fh.read().split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.lstrip().startswith("#"):
                        key, _, value = line.partition(":")
                        fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split() and "security" not in fields.get("suites", ""):
                    for uri in fields.get("uris", "").split():
                        if not uri.rstrip("/").endswith("-security"):
                            return uri.rstrip("/")
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path, errors="replace") as fh:
                for line in fh:
                    words = line.split()
                    if len(words) >= 3 and words[0] == "deb":
                        uri = next((w for w in words[1:] if "://" in w), "")
                        if uri and not uri.rstrip("/").endswith("-security"):
                            return uri.rstrip("/")
    raise RuntimeError("no Debian mirror in this host's apt configuration; set IMSPREP_TEST_MIRROR")


MIRROR = os.environ.get("IMSPREP_TEST_MIRROR") or _host_mirror()
SUITES = {"bullseye": "5.10", "bookworm": "6.1", "trixie": "6.12"}
COMPRESSIONS = ["gzip", "bzip2", "lz4", "lzma", "lzop", "xz", "zstd"]
GUEST_TOOLS = "zstd,lz4,xz-utils,bzip2,lzop,cpio"
BROKEN_MODULES = ["ext4", "ahci", "sd_mod", "ata_piix"]  # what MODULES=dep picks on a SATA host
LOG = os.environ.get("IMSPREP_TEST_LOG")


def cache_dir() -> str:
    path = os.environ.get("IMSPREP_TEST_CACHE", "/var/tmp/imsprep-test-cache")
    os.makedirs(path, exist_ok=True)
    return path


def log(message: str) -> None:
    sys.stderr.write("[guests %s] %s\n" % (time.strftime("%H:%M:%S"), message))


def run(argv: List[str], env: Optional[Dict[str, str]] = None, **kwargs) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    full_env.update(env or {})
    result = subprocess.run(argv, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(argv), result.returncode,
                                                     result.stdout.decode(errors="replace")[-4000:]))
    return result


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    with open(os.path.join(cache_dir(), name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def cached(name: str, build: Callable[[str], None]) -> str:
    """Path of artifact ``name``; built by ``build(tmp_path)`` when missing."""
    final = os.path.join(cache_dir(), name)
    if os.path.exists(final):
        return final
    with _locked(name):
        if os.path.exists(final):
            return final
        tmp = final + ".tmp"
        _remove_tree(tmp)
        started = time.time()
        log("building %s" % name)
        build(tmp)
        os.rename(tmp, final)
        log("built %s in %.0fs" % (name, time.time() - started))
    return final


def _remove_tree(path: str) -> None:
    if not os.path.lexists(path):
        return
    with open("/proc/mounts") as fh:
        mounted = [line.split()[1] for line in fh if line.split()[1].startswith(os.path.abspath(path) + "/")]
    if mounted:
        raise RuntimeError("refusing to delete %s: still mounted: %s" % (path, mounted))
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


# ----------------------------------------------------------------------------- kernel packages
def _apt_options(state: str) -> List[str]:
    return ["-o", "Dir::Etc::SourceList=%s/sources.list" % state, "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", "Dir::State::Lists=%s/lists" % state, "-o", "Dir::State::Status=/dev/null",
            "-o", "Dir::Cache=%s/cache" % state, "-o", "Acquire::Languages=none", "-q"]


def kernel_deb(suite: str) -> str:
    """The suite's current linux-image-<kver>-amd64 .deb (resolved through linux-image-amd64)."""
    def build(tmp: str) -> None:
        os.makedirs(os.path.join(tmp, "lists", "partial"))
        os.makedirs(os.path.join(tmp, "cache", "archives", "partial"))
        with open(os.path.join(tmp, "sources.list"), "w") as fh:
            fh.write("deb %s %s main\n" % (MIRROR, suite))
        opts = _apt_options(tmp)
        run(["apt-get"] + opts + ["update"])
        depends = run(["apt-cache"] + opts + ["depends", "linux-image-amd64"]).stdout.decode()
        package = next(line.split(":", 1)[1].strip() for line in depends.splitlines() if "Depends: linux-image-" in line)
        run(["apt-get"] + opts + ["download", package], cwd=tmp)
        shutil.rmtree(os.path.join(tmp, "lists"))
        shutil.rmtree(os.path.join(tmp, "cache"))

    directory = cached("deb-" + suite, build)
    return glob.glob(os.path.join(directory, "linux-image-*.deb"))[0]


def kernel_tree(suite: str) -> Tuple[str, str]:
    """A directory holding the unpacked kernel package with a real modules.dep: (dir, kver)."""
    deb = kernel_deb(suite)

    def build(tmp: str) -> None:
        run(["dpkg-deb", "-x", deb, tmp])
        if not os.path.exists(os.path.join(tmp, "lib")):  # merged /usr (trixie): as on the real system
            os.symlink("usr/lib", os.path.join(tmp, "lib"))
        kver = os.listdir(os.path.join(tmp, "lib", "modules"))[0]
        run(["depmod", "-b", tmp, kver])

    directory = cached("kernel-" + suite, build)
    return directory, os.listdir(os.path.join(directory, "lib", "modules"))[0]


# ----------------------------------------------------------------------------- guests
@contextlib.contextmanager
def chroot_mounts(root: str) -> Iterator[None]:
    """proc, read-only sysfs and a private tiny /dev for commands run inside ``root``."""
    mounts = []
    try:
        for target, argv in (("proc", ["-t", "proc", "proc"]), ("sys", ["-t", "sysfs", "-o", "ro", "sysfs"]),
                             ("dev", ["-t", "tmpfs", "-o", "size=1m,mode=755", "imsprep-dev"])):
            path = os.path.join(root, target)
            os.makedirs(path, exist_ok=True)
            run(["mount"] + argv + [path])
            mounts.append(path)
        for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("random", 1, 8), ("urandom", 1, 9),
                                   ("tty", 5, 0), ("console", 5, 1)):
            os.mknod(os.path.join(root, "dev", name), 0o20666, os.makedev(major, minor))
        os.symlink("/proc/self/fd", os.path.join(root, "dev", "fd"))
        yield
    finally:
        for path in reversed(mounts):
            subprocess.run(["umount", "-l", path], check=False)


def debootstrap(name: str, suite: str, include: str, after: Optional[Callable[[str], None]] = None,
                components: str = "main") -> str:
    def build(tmp: str) -> None:
        run(["debootstrap", "--variant=minbase", "--components=" + components, "--include=" + include,
             suite, tmp, MIRROR])
        if after:
            after(tmp)
        for path in glob.glob(os.path.join(tmp, "var/cache/apt/archives/*.deb")):
            os.unlink(path)

    return cached(name, build)


def kver_of(root: str) -> str:
    kvers = sorted(os.listdir(os.path.join(root, "lib", "modules")))
    return kvers[-1]


def itools_guest() -> str:
    """Debian bookworm, initramfs-tools, AMD microcode (so its initramfs has an early cpio)."""
    return debootstrap("guest-bookworm-itools", "bookworm",
                       "linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,amd64-microcode," + GUEST_TOOLS,
                       components="main,non-free-firmware")


def _install_dracut_kernel(root: str) -> None:
    with chroot_mounts(root):
        run(["chroot", root, "apt-get", "install", "-y", "-q", "--no-install-recommends", "linux-image-amd64"])


def dracut_guest() -> str:
    """Debian bookworm with dracut instead of initramfs-tools (they conflict in Debian)."""
    return debootstrap("guest-bookworm-dracut", "bookworm",
                       "dracut,dracut-core,systemd-sysv,udev,kmod," + GUEST_TOOLS, after=_install_dracut_kernel)


# ----------------------------------------------------------------------------- initramfs images
def itools_image(policy: str, compress: str, modules: Optional[List[str]] = None) -> str:
    """An initramfs built by the guest's real mkinitramfs with ``MODULES=policy``, ``COMPRESS=compress``
    and ``modules`` in the modules file, using an alternate config dir (``mkinitramfs -d``)."""
    guest = itools_guest()
    modules = modules or []
    label = "itools-%s-%s-%s.img" % (policy, compress, "+".join(modules) or "none")

    def build(tmp: str) -> None:
        confdir = "/etc/initramfs-tools.imsprep-test"
        host_conf = guest + confdir
        _remove_tree(host_conf)
        shutil.copytree(guest + "/etc/initramfs-tools", host_conf, symlinks=True)
        with open(host_conf + "/conf.d/imsprep-test", "w") as fh:
            fh.write("MODULES=%s\nCOMPRESS=%s\n" % (policy, compress))
        with open(host_conf + "/modules", "w") as fh:
            fh.write("".join(m + "\n" for m in modules))
        try:
            with chroot_mounts(guest):
                run(["chroot", guest, "mkinitramfs", "-d", confdir, "-o", "/tmp/imsprep-test.img", kver_of(guest)])
            shutil.move(guest + "/tmp/imsprep-test.img", tmp)
        finally:
            _remove_tree(host_conf)

    return cached(label, build)


def dracut_image(variant: str) -> str:
    """``default`` (the distro's dracut settings) or ``hostonly-broken``: hostonly with only SATA
    drivers and the qemu modules omitted, what dracut builds on a XEN host (e2e-notes.md)."""
    guest = dracut_guest()

    def build(tmp: str) -> None:
        argv = ["chroot", guest, "dracut", "-f", "--kver", kver_of(guest)]
        if variant == "hostonly-broken":
            argv += ["--hostonly", "--drivers", " ".join(BROKEN_MODULES), "--omit", "qemu qemu-net virtiofs"]
        elif variant != "default":
            raise ValueError(variant)
        with chroot_mounts(guest):
            run(argv + ["/tmp/imsprep-test.img"])
        shutil.move(guest + "/tmp/imsprep-test.img", tmp)

    return cached("dracut-%s.img" % variant, build)


def clone_guest(source: str, dest: str) -> str:
    """A cheap copy of a cached guest for one test: hard links, so tests must *replace* files
    (write a new file and rename it), never modify one in place. check never writes."""
    run(["cp", "-al", source, dest])
    return dest


def replace_file(path: str, source: str) -> None:
    """Put a copy of ``source`` at ``path`` without touching the (hard-linked) old file."""
    tmp = path + ".imsprep-test-new"
    shutil.copyfile(source, tmp)
    os.replace(tmp, path)


def build_all() -> None:
    for suite in SUITES:
        kernel_tree(suite)
    itools_guest()
    itools_image("list", "zstd", BROKEN_MODULES)
    for compress in COMPRESSIONS:
        itools_image("list", compress, ["virtio_blk", "virtio_net", "ext4"])
    dracut_guest()
    dracut_image("default")
    dracut_image("hostonly-broken")
    for suite in ("bullseye", "trixie"):
        release_guest(suite)
    cloud_guest()



# ----------------------------------------------------------------------------- booting
BOOT_MARKER = "IMSPREP-E2E-BOOTED"
E2E_INIT = """#!/bin/sh
# imsprep e2e: proves the initramfs found the root disk and handed over to the real system
mount -t proc proc /proc 2>/dev/null
echo "%s $(grep ' / ' /proc/mounts | tail -n 1)" > /dev/ttyS0
mount -a -O no_netdev > /dev/ttyS0 2>&1
grep -v ' / ' /proc/mounts | grep '^/dev/' | sed 's/^/IMSPREP-E2E-MOUNT /' > /dev/ttyS0
echo o > /proc/sysrq-trigger
sleep 30
""" % BOOT_MARKER


def make_disk(tree: str, image: str, size: str = "2G", uuid: Optional[str] = None) -> str:
    """An ext4 disk image holding ``tree`` (no loop devices, no mounts), with the e2e init added."""
    init = os.path.join(tree, "sbin", "imsprep-e2e-init")
    if os.path.lexists(init):
        os.unlink(init)
    with open(init, "w") as fh:
        fh.write(E2E_INIT)
    os.chmod(init, 0o755)
    try:
        run(["mkfs.ext4", "-q", "-F", "-L", "root"] + (["-U", uuid] if uuid else []) + ["-d", tree, image, size])
    finally:
        os.unlink(init)
    return image


def boot(kernel: str, initrd: str, disk: str, log_path: str, extra: str = "", timeout: int = 240,
         root: str = "/dev/vda", more_disks: Tuple[str, ...] = (), bus: str = "virtio") -> Tuple[bool, str, float]:
    """Boot ``kernel`` + ``initrd`` under QEMU (TCG) with ``disk`` as a virtio disk; (marker seen, log, seconds)."""
    append = "root=%s rw console=ttyS0 init=/sbin/imsprep-e2e-init panic=-1 %s" % (root, extra)
    argv = ["timeout", str(timeout), "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1024",
            "-smp", "2", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "file:" + log_path,
            "-kernel", kernel, "-initrd", initrd, "-append", append.strip(),
            "-drive", "file=%s,if=%s,format=raw" % (disk, bus)]
    for extra_disk in more_disks:
        argv += ["-drive", "file=%s,if=virtio,format=raw" % extra_disk]
    started = time.time()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    elapsed = time.time() - started
    with open(log_path, errors="replace") as fh:
        log = fh.read()
    booted = any(line.startswith(BOOT_MARKER) for line in log.splitlines())
    if LOG:
        with open(LOG, "a") as fh:
            fh.write("boot %s %s: booted=%s in %.0fs\n" % (kernel, initrd, booted, elapsed))
    return booted, log, elapsed


# ----------------------------------------------------------------------------- test guests and tree comparison
STATE_PATHS = ("var/lib/imsprep", "var/log/imsprep")


def write_replacing(path: str, content: str) -> None:
    tmp = path + ".imsprep-test-new"
    with open(tmp, "w") as fh:
        fh.write(content)
    os.replace(tmp, path)


def break_itools(root: str) -> str:
    """Make a cloned itools guest look like one prepared on a XEN/SATA host: MODULES=list with
    the SATA drivers only, and its initramfs without virtio (e2e-notes.md)."""
    kver = kver_of(root)
    replace_file(os.path.join(root, "boot", "initrd.img-" + kver), itools_image("list", "zstd", BROKEN_MODULES))
    conf = os.path.join(root, "etc", "initramfs-tools", "initramfs.conf")
    with open(conf) as fh:
        text = fh.read()
    write_replacing(conf, text.replace("MODULES=most", "MODULES=list"))
    modules = os.path.join(root, "etc", "initramfs-tools", "modules")
    with open(modules) as fh:
        text = fh.read()
    write_replacing(modules, text + "".join(m + "\n" for m in BROKEN_MODULES))
    return kver


def break_dracut(root: str) -> str:
    """A dracut guest as built on a XEN host: host-only, SATA drivers only, qemu modules omitted."""
    kver = kver_of(root)
    replace_file(os.path.join(root, "boot", "initrd.img-" + kver), dracut_image("hostonly-broken"))
    write_replacing(os.path.join(root, "etc", "dracut.conf.d", "10-xenhost.conf"),
                    'hostonly="yes"\ndrivers="%s"\nomit_dracutmodules+=" qemu qemu-net virtiofs "\n' % " ".join(BROKEN_MODULES))
    return kver


def tree_differences(a: str, b: str, exclude: Tuple[str, ...] = STATE_PATHS) -> List[str]:
    """Paths whose type, mode, target or bytes differ between two trees (hard links to the same
    inode are equal without reading them)."""
    import filecmp
    import stat

    def scan(root: str) -> Dict[str, os.stat_result]:
        found = {}
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in exclude]
            for name in dirnames + filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                found[rel] = os.lstat(os.path.join(root, rel))
        return found

    left, right = scan(a), scan(b)
    differences = sorted(set(left) ^ set(right))
    for rel in sorted(set(left) & set(right)):
        x, y = left[rel], right[rel]
        if (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino):
            continue
        if stat.S_IFMT(x.st_mode) != stat.S_IFMT(y.st_mode) or stat.S_IMODE(x.st_mode) != stat.S_IMODE(y.st_mode):
            differences.append(rel)
        elif stat.S_ISLNK(x.st_mode):
            if os.readlink(os.path.join(a, rel)) != os.readlink(os.path.join(b, rel)):
                differences.append(rel)
        elif stat.S_ISREG(x.st_mode):
            if x.st_size != y.st_size or not filecmp.cmp(os.path.join(a, rel), os.path.join(b, rel), shallow=False):
                differences.append(rel)
    return differences


def three_kernel_guest() -> str:
    """The bookworm guest with the bullseye (5.10) and trixie (6.12) kernels added, each with an
    initramfs built by the guest's own mkinitramfs (MODULES=most, zstd): for the benchmark."""
    base = itools_guest()

    def build(tmp: str) -> None:
        run(["cp", "-al", base, tmp])
        for suite in ("bullseye", "trixie"):
            tree, kver = kernel_tree(suite)
            for name in ("vmlinuz-", "config-", "System.map-"):
                if os.path.exists(os.path.join(tree, "boot", name + kver)):
                    shutil.copyfile(os.path.join(tree, "boot", name + kver), os.path.join(tmp, "boot", name + kver))
            modules = os.path.join(tree, "lib", "modules", kver) if os.path.isdir(os.path.join(tree, "lib", "modules", kver)) \
                else os.path.join(tree, "usr", "lib", "modules", kver)
            run(["cp", "-al", os.path.realpath(modules), os.path.join(tmp, "lib", "modules", kver)])
            with chroot_mounts(tmp):
                run(["chroot", tmp, "mkinitramfs", "-o", "/boot/initrd.img-" + kver, kver])

    return cached("guest-bookworm-3kernels", build)


def release_guest(suite: str) -> str:
    """A plain Debian guest of ``suite`` (bullseye: python 3.9, trixie: 3.13) with its kernel."""
    if suite == "bookworm":
        return itools_guest()
    return debootstrap("guest-%s-itools" % suite, suite, "linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,zstd")


def _install_cloud_init(root: str) -> None:
    with chroot_mounts(root):  # python3-cryptography's postinst fails inside debootstrap itself
        run(["chroot", root, "apt-get", "install", "-y", "-q", "--no-install-recommends", "cloud-init", "dbus"])


def cloud_guest() -> str:
    """Debian bookworm with cloud-init, for the first-boot hook test."""
    return debootstrap("guest-bookworm-cloudinit", "bookworm", "linux-image-amd64,initramfs-tools,systemd-sysv,udev,kmod,zstd",
                       after=_install_cloud_init)


if __name__ == "__main__":
    started = time.time()
    build_all()
    log("all artifacts ready in %.0fs under %s" % (time.time() - started, cache_dir()))
