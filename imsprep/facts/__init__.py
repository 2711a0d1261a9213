"""Facts about a guest: gathered once, read-only, no judgement. Rules turn them into findings."""

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

from .. import generators
from ..errors import ParseError
from ..knowledge import Knowledge
from ..system import System
from .bootloader import BootConfig, read_boot_config
from .devices import DeviceRef, bootloader_refs, crypttab_refs, fstab_refs
from .distro_info import DistroInfo, read_distro
from .generator import GeneratorInfo, read_generator
from .initramfs import InitramfsReader, Listing, parse_lister_output
from .kernels import Kernel, find_kernels, orphan_module_dirs, running_kernel
from .kmod import normalize
from .listing_cache import ListingCache
from .network import NetIssue, kernel_names_eth, read_network, udev_keeps_kernel_names
from .platform import PlatformInfo, read_platform
from .pvsuites import ModprobeRule, Packages, SuiteFinding, find_suites, read_modprobe_rules, read_packages


class InitramfsFact:
    def __init__(self, kver: str, path: Optional[str], source: str):
        self.kver = kver
        self.path = path
        self.source = source  # "bootloader entry ..." / "standard name" / "not found"
        self.exists = False
        self.listing: Optional[Listing] = None
        self.error: Optional[str] = None
        self.native_error: Optional[str] = None
        self.cached = False

    @property
    def readable(self) -> bool:
        return self.listing is not None

    def to_dict(self) -> Dict[str, object]:
        listing = self.listing
        return {
            "path": self.path,
            "source": self.source,
            "exists": self.exists,
            "readable": self.readable,
            "method": listing.method if listing else None,
            "cached": self.cached,
            "segments": [{"offset": o, "format": k} for o, k in listing.segments] if listing else [],
            "file_count": len(listing.files) if listing else 0,
            "module_count": len(listing.modules) if listing else 0,
            "kernel_versions": sorted(listing.kernel_versions) if listing else [],
            "warnings": listing.warnings if listing else [],
            "error": self.error,
            "native_error": self.native_error,
        }


class Facts:
    def __init__(self, system: System, knowledge: Knowledge):
        self.system = system
        self.knowledge = knowledge
        self.distro: DistroInfo = DistroInfo()
        self.generator: GeneratorInfo = GeneratorInfo()
        self.kernels: List[Kernel] = []
        self.orphan_module_dirs: List[str] = []
        self.running: Optional[str] = None
        self.boot: BootConfig = BootConfig()
        self.default_kernel: Optional[Kernel] = None
        self.initramfs: Dict[str, InitramfsFact] = {}
        self.packages: Packages = Packages()
        self.suites: List[SuiteFinding] = []
        self.modprobe_rules: List[ModprobeRule] = []
        self.device_refs: List[DeviceRef] = []
        self.network: List[NetIssue] = []
        self.names_eth = False  # net.ifnames=0 is on the kernel command line (and stays there)
        self.network_if_eth: List[NetIssue] = []  # the network configuration judged as if net.ifnames=0 were on
        self.platform: PlatformInfo = PlatformInfo()
        self.cloud_init = False
        self.unreadable: List[str] = []  # what a non-root user could not see
        self.seal_pending: Dict[str, int] = {}  # operation -> items `imsprep seal` would still change


def kernel_for_entry(kernels: List[Kernel], entry_kernel: Optional[str]) -> Optional[Kernel]:
    if not entry_kernel:
        return None
    base = entry_kernel.rsplit("/", 1)[-1]
    for kernel in kernels:
        if kernel.image and kernel.image.rsplit("/", 1)[-1] == base:
            return kernel
    for kernel in kernels:  # /boot/vmlinuz-<kver> under another prefix
        if base.endswith("-" + kernel.kver):
            return kernel
    for kernel in kernels:  # systemd-boot's copy on the ESP: /<entry token>/<kver>/linux
        if "/" + kernel.kver + "/" in entry_kernel:
            return kernel
    return None


def locate_initramfs(facts: Facts, kernel: Kernel) -> InitramfsFact:
    """The initramfs the bootloader loads for this kernel; the distro's standard name otherwise."""
    system = facts.system
    for entry in facts.boot.entries:
        if kernel_for_entry([kernel], entry.kernel_path or entry.kernel) is kernel and entry.initrd_paths:
            # the last initrd on the line is the main one; earlier ones are microcode
            path = entry.initrd_paths[-1]
            return InitramfsFact(kernel.kver, path, "bootloader entry %r (%s:%d)" % (entry.title, entry.source, entry.line))
    names: List[str] = []
    for strategy in generators.all_generators(facts.knowledge):
        for pattern in strategy.image_names:
            name = pattern.format(kver=kernel.kver)
            if name not in names:
                names.append(name)
    if kernel.modules_dir:
        names.append(kernel.modules_dir + "/initrd")
    for name in names:
        if system.exists(name):
            return InitramfsFact(kernel.kver, name, "standard name")
    return InitramfsFact(kernel.kver, None, "not found (looked for %s)" % ", ".join(names))


def read_initramfs(facts: Facts, fact: InitramfsFact, cache: Optional[ListingCache] = None) -> None:
    system = facts.system
    if fact.path is None:
        return
    fact.exists = system.is_file(fact.path)
    if not fact.exists:
        fact.error = "file does not exist"
        return
    host_path = system.host_path(fact.path)
    if cache is not None:
        fact.listing = cache.load(host_path, fact.path)
        if fact.listing is not None:
            fact.cached = True
            return
    reader = InitramfsReader.on(system)
    try:
        with system.open_binary(fact.path) as fh:
            fact.listing = reader.list(fh, fact.path)
        if cache is not None:
            cache.store(host_path, fact.listing)
        return
    except PermissionError as exc:
        fact.native_error = "permission denied: %s" % exc
        facts.unreadable.append(fact.path)
    except (ParseError, OSError) as exc:
        fact.native_error = str(exc)
    fact.listing = list_with_tool(facts, fact)
    if fact.listing is None:
        fact.error = "unreadable: %s" % fact.native_error


def list_with_tool(facts: Facts, fact: InitramfsFact) -> Optional[Listing]:
    """Fallback: a distro lister. On a live system the system's own; under ``--root`` only the
    lister of the machine imsprep runs on, given the image as a file (the guest's programs are
    never run by check, and a special file is never handed to a tool)."""
    system = facts.system
    assert fact.path is not None
    host_path = None
    if not system.live:
        try:
            host_path = system.host_path(fact.path)
            if not stat.S_ISREG(os.lstat(host_path).st_mode):
                return None
        except OSError:
            return None
    listers: List[str] = []
    for strategy in generators.all_generators(facts.knowledge):
        if strategy.lister not in listers:
            listers.append(strategy.lister)
    for tool in listers:
        if system.live and system.which(tool):
            result = system.run([tool, fact.path], in_guest=True, timeout=300)
        elif host_path is not None and system.host_which(tool):
            result = system.run([system.host_which(tool) or tool, host_path], in_guest=False, timeout=300)
        else:
            continue
        if result.ok and result.stdout.strip():
            listing = parse_lister_output(result.stdout, fact.path, tool)
            if listing.files:
                listing.warnings.append("read with %s because the native reader failed: %s" % (tool, fact.native_error))
                return listing
    return None


def kernel_arch(kernel: Optional[Kernel]) -> Optional[str]:
    if kernel is None:
        return None
    config = kernel.config
    if config.get("CONFIG_X86_64") == "y":
        return "x86_64"
    if config.get("CONFIG_ARM64") == "y":
        return "aarch64"
    if config.get("CONFIG_X86_32") == "y" or config.get("CONFIG_X86") == "y":
        return "i686"
    for arch in ("x86_64", "aarch64", "i686", "i386"):
        if arch in kernel.kver or arch in (kernel.image or ""):
            return arch
    if "amd64" in kernel.kver:
        return "x86_64"
    if "arm64" in kernel.kver:
        return "aarch64"
    return None


def gather(system: System, knowledge: Knowledge, use_cache: bool = True) -> Facts:
    facts = Facts(system, knowledge)
    facts.distro = read_distro(system, knowledge)
    facts.generator = read_generator(system, knowledge, facts.distro)
    facts.running = running_kernel(system)
    facts.kernels = find_kernels(system, facts.running)
    facts.orphan_module_dirs = orphan_module_dirs(system, facts.kernels)
    drivers = [normalize(name) for target in ("kvm", "xen") for spec in knowledge.target_drivers(target)
               for name in [spec["name"]] + list(spec.get("legacy", []))]
    for kernel in facts.kernels:
        kernel.resolve(drivers)  # the rules ask for these: they read the answers, not the guest
    facts.boot = read_boot_config(system)
    for entry in facts.boot.entries:
        # a link to an installed kernel (KIWI's /boot/linux.vmx -> vmlinuz-<kver> on SLES 11): the kernel it names
        if entry.kernel_path and kernel_for_entry(facts.kernels, entry.kernel_path) is None and system.is_symlink(entry.kernel_path):
            target = system.realpath(entry.kernel_path)
            if kernel_for_entry(facts.kernels, target) is not None:
                entry.kernel_path = target
    if facts.boot.default is not None:
        facts.default_kernel = kernel_for_entry(facts.kernels, facts.boot.default.kernel_path or facts.boot.default.kernel)
    for kernel in facts.kernels:
        facts.initramfs[kernel.kver] = locate_initramfs(facts, kernel)
    # images are read concurrently: zlib, lzma, bz2 and zstandard release the GIL while they work
    cache = ListingCache(enabled=use_cache)
    todo = list(facts.initramfs.values())
    if len(todo) > 1:
        with ThreadPoolExecutor(max_workers=min(len(todo), max(2, os.cpu_count() or 2))) as pool:
            list(pool.map(lambda fact: read_initramfs(facts, fact, cache), todo))
    else:
        for fact in todo:
            read_initramfs(facts, fact, cache)
    facts.packages = read_packages(system, facts.distro.package_db)
    facts.suites = find_suites(system, knowledge, facts.packages, facts.distro.package_db)
    facts.modprobe_rules = read_modprobe_rules(system)
    facts.device_refs = fstab_refs(system) + crypttab_refs(system) + bootloader_refs(system, facts.boot)
    facts.names_eth = kernel_names_eth(system, facts.boot)
    eth = udev_keeps_kernel_names(facts.distro) or facts.names_eth
    facts.network = read_network(system, facts.boot, eth=eth)
    # fix may put net.ifnames=0 on: how the configuration reads then, so it plans from facts alone
    facts.network_if_eth = facts.network if eth else read_network(system, facts.boot, eth=True)
    main_kernel = facts.default_kernel or (facts.kernels[0] if facts.kernels else None)
    facts.platform = read_platform(system, kernel_arch(main_kernel), facts.packages.versions)
    facts.cloud_init = bool(system.which("cloud-init") or system.is_file("/etc/cloud/cloud.cfg"))
    from ..seal import pending_for_facts
    facts.seal_pending = pending_for_facts(facts)
    if system.live and os.geteuid() != 0:
        for path in ("/boot", "/etc/fstab", "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"):
            if system.exists(path) and not os.access(system.host_path(path), os.R_OK):
                facts.unreadable.append(path)
    return facts
