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


def read_platform(system: System, kernel_arch: Optional[str]) -> PlatformInfo:
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
        efi = system.glob("/boot/efi/EFI/*/grub*.cfg") + system.glob("/boot/efi/EFI/*/*.efi")
        bios = system.is_dir("/boot/grub/i386-pc") or system.is_dir("/boot/grub2/i386-pc")
        if efi and not bios:
            info.firmware, info.firmware_evidence = "uefi", "EFI boot files: %s" % efi[0]
        elif bios:
            info.firmware_evidence = "GRUB i386-pc (BIOS) modules installed"
        else:
            info.firmware_evidence = "no EFI boot files found"
    if info.arch == "aarch64":
        info.firmware = "uefi"
        info.firmware_evidence = "ARM guests always boot with UEFI"
    return info
