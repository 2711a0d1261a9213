"""Where the guest runs now (live only) and what firmware it boots with."""

from typing import Dict, List, Optional

from ..system import System


class PlatformInfo:
    def __init__(self):
        self.hypervisor: Optional[str] = None  # xen | kvm | qemu (TCG) | other name | none | None (unknown)
        self.evidence: List[str] = []
        self.firmware: str = "bios"
        self.firmware_evidence: str = ""
        self.arch: Optional[str] = None

    def to_dict(self) -> Dict[str, object]:
        return {"hypervisor": self.hypervisor, "evidence": self.evidence,
                "firmware": self.firmware, "firmware_evidence": self.firmware_evidence, "arch": self.arch}


def _first_line(system: System, path: str) -> str:
    text = system.read_text(path) or ""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


CLOCKSOURCES = "/sys/devices/system/clocksource/clocksource0/available_clocksource"


def _detect_virt(system: System) -> Optional[str]:
    """systemd-detect-virt's own answer (it tells KVM from QEMU/TCG by the CPUID hypervisor leaf)."""
    if not system.which("systemd-detect-virt"):
        return None
    answer = system.run(["systemd-detect-virt", "--vm"], timeout=20).stdout.strip()
    return answer or None


def _qemu_accel(system: System, info: PlatformInfo) -> str:
    """DMI says QEMU: with KVM acceleration ``kvm``, emulated by TCG ``qemu``. systemd-detect-virt
    answers that itself; without it, only a KVM host offers the guest the kvm-clock clocksource."""
    answer = _detect_virt(system)
    if answer in ("kvm", "qemu"):
        info.evidence.append("systemd-detect-virt --vm: %s" % answer)
        return answer
    clocks = (system.read_text(CLOCKSOURCES) or "").split()
    if "kvm-clock" in clocks:
        info.evidence.append("kvm-clock clocksource offered")
        return "kvm"
    info.evidence.append("no kvm-clock clocksource: QEMU without KVM (TCG)" if clocks else "no clocksource list: QEMU assumed TCG")
    return "qemu"


def detect_hypervisor(system: System, info: PlatformInfo) -> None:
    """The reference procedure's first question. Reads /sys, /proc and DMI like
    systemd-detect-virt does, without needing that tool (absent on old guests)."""
    hv_type = _first_line(system, "/sys/hypervisor/type")
    if hv_type:
        info.evidence.append("/sys/hypervisor/type: %s" % hv_type)
    if system.exists("/proc/xen/capabilities") or hv_type == "xen":
        info.hypervisor = "xen"
        if not info.evidence:
            info.evidence.append("/proc/xen present")
        return
    dmi = {}
    for key in ("sys_vendor", "product_name", "bios_vendor", "board_vendor"):
        value = _first_line(system, "/sys/class/dmi/id/" + key)
        if value:
            dmi[key] = value
            info.evidence.append("dmi %s: %s" % (key, value))
    joined = " ".join(dmi.values()).lower()
    for needle, name in (("xen", "xen"), ("kvm", "kvm"), ("qemu", "qemu"), ("openstack", "kvm"),
                         ("huawei cloud", "kvm"), ("amazon ec2", "kvm"), ("google", "kvm"),
                         ("vmware", "vmware"), ("virtualbox", "virtualbox"), ("microsoft", "hyperv"),
                         ("parallels", "parallels")):
        if needle in joined:
            info.hypervisor = _qemu_accel(system, info) if name == "qemu" else name
            return
    if system.which("systemd-detect-virt"):
        result = system.run(["systemd-detect-virt", "--vm"], timeout=20)
        answer = result.stdout.strip()
        if answer and answer != "none":
            info.hypervisor = {"microsoft": "hyperv", "oracle": "virtualbox"}.get(answer, answer)
            info.evidence.append("systemd-detect-virt --vm: %s" % answer)
            container = system.run(["systemd-detect-virt", "--container"], timeout=20).stdout.strip()
            if container and container != "none":
                info.evidence.append("inside a %s container" % container)
            return
    cpuinfo = system.read_text("/proc/cpuinfo") or ""
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    if " hypervisor" in flags:
        info.hypervisor = "unknown-vm"
        info.evidence.append("cpu flag 'hypervisor' set; vendor not identified")
    elif flags:
        info.hypervisor = "none"
        info.evidence.append("no 'hypervisor' cpu flag: bare metal")


UEFI_PACKAGES = ("grub-efi-amd64", "grub-efi-amd64-signed", "grub-efi-arm64", "shim-signed", "grub2-efi-x64",
                 "grub2-efi-aa64", "shim-x64", "shim-aa64", "grub2-x86_64-efi", "systemd-boot", "systemd-boot-efi")
BIOS_PACKAGES = ("grub-pc", "grub2-pc", "grub2-i386-pc", "syslinux", "extlinux", "grub")


def _fstab_mountpoints(system: System) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for line in (system.read_text("/etc/fstab") or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#"):
            found[fields[1]] = fields[0]
    return found


def _mbr_has_boot_code(device: str) -> bool:
    """Boot code in the first 440 bytes of the disk (GRUB's boot.img says 'GRUB')."""
    try:
        with open(device, "rb") as fh:
            sector = fh.read(512)
    except OSError:
        return False
    return len(sector) == 512 and sector[510:512] == b"\x55\xaa" and b"GRUB" in sector[:440]


def firmware_signs(system: System, packages: Optional[Dict[str, str]] = None) -> Dict[str, List[str]]:
    """Every sign of how an offline guest boots: its disk (GPT + ESP, BIOS boot partition, MBR boot
    code), its fstab, its bootloader files (on the ESP even when it is not mounted: read with
    mtools) and its packages."""
    from .hostdisk import esp_listing, holding_disk

    uefi: List[str] = []
    bios: List[str] = []
    disk = holding_disk(system)
    if disk is not None:
        if disk.esp is not None:
            uefi.append("%s partition table with an EFI System Partition (%s)" % (disk.scheme or "a", disk.esp.device))
            listing = esp_listing(System("/"), disk.esp)
            loaders = [p for p in listing or [] if p.lower().endswith(".efi")]
            if loaders:
                uefi.append("EFI loaders on the ESP: %s" % ", ".join(sorted(loaders)[:3]))
        if disk.bios_boot is not None:
            bios.append("BIOS boot partition (%s)" % disk.bios_boot.device)
        if _mbr_has_boot_code(disk.device):
            bios.append("GRUB boot code in the MBR of %s" % disk.device)
    mounts = _fstab_mountpoints(system)
    for mountpoint in ("/boot/efi", "/efi"):
        if mountpoint in mounts:
            uefi.append("/etc/fstab mounts the ESP at %s (%s)" % (mountpoint, mounts[mountpoint]))
    efi_files = system.glob("/boot/efi/EFI/*/*.efi") + system.glob("/boot/efi/EFI/*/*.EFI")
    if efi_files:
        uefi.append("EFI boot files: %s" % efi_files[0])
    for path in ("/boot/grub/x86_64-efi", "/boot/grub2/x86_64-efi", "/boot/grub/arm64-efi", "/boot/efi/loader/entries",
                 "/efi/loader/entries"):
        if system.is_dir(path):
            uefi.append("%s installed" % path)
    for path in ("/boot/grub/i386-pc", "/boot/grub2/i386-pc"):
        if system.is_dir(path):
            bios.append("GRUB i386-pc (BIOS) modules installed in %s" % path)
    for name in sorted(packages or {}):
        if name in UEFI_PACKAGES:
            uefi.append("package %s" % name)
        elif name in BIOS_PACKAGES:
            bios.append("package %s" % name)
    return {"uefi": uefi, "bios": bios}


def read_platform(system: System, kernel_arch: Optional[str], packages: Optional[Dict[str, str]] = None) -> PlatformInfo:
    info = PlatformInfo()
    info.arch = kernel_arch
    if system.live:
        detect_hypervisor(system, info)
        if system.is_dir("/sys/firmware/efi"):
            info.firmware, info.firmware_evidence = "uefi", "/sys/firmware/efi exists"
        else:
            info.firmware_evidence = "/sys/firmware/efi absent"
    else:
        info.evidence.append("offline image (--root): not running on any hypervisor")
        signs = firmware_signs(system, packages)
        # a package alone is weak (grub-efi-amd64-bin style packages sit on BIOS guests too): the
        # disk, fstab and installed bootloader files decide; packages only tip an otherwise silent guest
        strong_uefi = [s for s in signs["uefi"] if not s.startswith("package ")]
        strong_bios = [s for s in signs["bios"] if not s.startswith("package ")]
        if strong_uefi and not strong_bios:
            info.firmware, info.firmware_evidence = "uefi", "; ".join(signs["uefi"])
        elif strong_bios and not strong_uefi:
            info.firmware_evidence = "; ".join(signs["bios"])
        elif strong_uefi and strong_bios:
            info.firmware_evidence = "boots both ways (hybrid): BIOS: %s; UEFI: %s" % ("; ".join(strong_bios), "; ".join(strong_uefi))
        elif signs["uefi"] and not signs["bios"]:
            info.firmware, info.firmware_evidence = "uefi", "; ".join(signs["uefi"])
        else:
            info.firmware_evidence = "; ".join(signs["bios"]) or "no EFI System Partition, EFI boot files or EFI bootloader package found"
    if info.arch == "aarch64":
        info.firmware = "uefi"
        info.firmware_evidence = "ARM guests always boot with UEFI"
    return info
