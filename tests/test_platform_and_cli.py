"""Hypervisor detection (live only: mocked at the /sys and /proc edge), CLI behaviour as a user sees it."""

import json
import subprocess
import sys

import pytest
from conftest import REPO, check_json, run_imsprep
from fakeguest import FakeGuest

from imsprep.facts.platform import PlatformInfo, detect_hypervisor
from imsprep.system import CommandResult, System

# what these files say on real guests: Xen HVM (AWS m4/Huawei XEN), KVM (OpenStack Nova), a container on KVM
XEN_FILES = {"/sys/hypervisor/type": "xen\n", "/sys/class/dmi/id/sys_vendor": "Xen\n", "/sys/class/dmi/id/product_name": "HVM domU\n"}
KVM_FILES = {"/sys/class/dmi/id/sys_vendor": "OpenStack Foundation\n", "/sys/class/dmi/id/product_name": "OpenStack Nova\n",
             "/sys/class/dmi/id/bios_vendor": "SeaBIOS\n"}


def live_system(mocker, files, detect_virt=None):
    system = System("/")
    mocker.patch.object(system, "read_text", side_effect=lambda path, default=None: files.get(path, default))
    mocker.patch.object(system, "exists", side_effect=lambda path: path in files)
    mocker.patch.object(system, "which", side_effect=lambda name: "/usr/bin/" + name if detect_virt and name == "systemd-detect-virt" else None)
    outputs = detect_virt or {}
    mocker.patch.object(system, "run", side_effect=lambda argv, **kw: CommandResult(argv, 0, outputs.get(argv[-1], "none\n").encode(), b""))
    return system


@pytest.mark.parametrize("files,detect_virt,expected", [
    (XEN_FILES, None, "xen"),
    (KVM_FILES, None, "kvm"),
    ({"/proc/cpuinfo": "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lahf_lm\n"},
     {"--vm": "kvm\n", "--container": "docker\n"}, "kvm"),
    ({"/proc/cpuinfo": "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lahf_lm\n"}, None, "unknown-vm"),
    ({"/proc/cpuinfo": "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep lahf_lm\n"}, None, "none"),
])
def test_hypervisor(mocker, files, detect_virt, expected):
    info = PlatformInfo()
    detect_hypervisor(live_system(mocker, files, detect_virt), info)
    assert info.hypervisor == expected and info.evidence


def test_text_report_and_exit_code(tmp_path):
    guest = FakeGuest(tmp_path / "g").os_release("debian-pkg_debian-12")
    proc = run_imsprep("check", "--root", guest.root)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "\x1b[" not in out
    assert out.splitlines()[1].startswith("KVM  NOT READY")
    colored = run_imsprep("check", "--root", guest.root, "--color", "always").stdout.decode()
    assert "\x1b[31mNOT READY" in colored


def test_help_lists_exit_codes():
    proc = run_imsprep("check", "--help", check_rc=0)
    assert b"exit codes" in proc.stdout and b"--root" in proc.stdout


@pytest.mark.parametrize("args", [["check", "--target", "vmware"], ["nonsense"], []])
def test_bad_arguments_exit_2(args):
    proc = run_imsprep(*args)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


def test_live_check_on_this_machine_runs():
    """Whatever this machine is (CI: a container with no kernel), check answers 0 or 1, never crashes."""
    proc = subprocess.run([sys.executable, "-m", "imsprep", "check", "--format", "json"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    report = json.loads(proc.stdout)
    assert report["live"] is True and report["platform"]["hypervisor"]


def test_json_target_subset(tmp_path):
    guest = FakeGuest(tmp_path / "g").os_release("debian-pkg_debian-12")
    report, rc = check_json(guest.root, "--target", "xen")
    assert list(report["verdict"]) == ["xen"] and report["targets"] == ["xen"]
    assert all("xen" in f["targets"] for f in report["findings"])


# DMI of a QEMU machine ("pc" type, SeaBIOS), as /sys shows it under both KVM and TCG
QEMU_DMI = {"/sys/class/dmi/id/sys_vendor": "QEMU\n", "/sys/class/dmi/id/product_name": "Standard PC (i440FX + PIIX, 1996)\n",
            "/sys/class/dmi/id/bios_vendor": "SeaBIOS\n"}
CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/available_clocksource"


@pytest.mark.parametrize("clocksources,expected", [
    ("kvm-clock tsc hpet acpi_pm \n", "kvm"),  # KVM offers its paravirtual clock
    ("tsc hpet acpi_pm \n", "qemu"),  # TCG does not
])
def test_qemu_dmi_without_detect_virt_tells_kvm_from_tcg(tmp_path, clocksources, expected):
    """A fake /sys tree: DMI says QEMU either way; kvm-clock is there only with KVM acceleration."""
    guest = FakeGuest(tmp_path / "g")
    for path, text in QEMU_DMI.items():
        guest.write(path, text)
    guest.write(CLOCKSOURCE, clocksources)
    info = PlatformInfo()
    detect_hypervisor(System(guest.root), info)
    assert info.hypervisor == expected
    assert ("kvm-clock clocksource offered" in info.evidence) == (expected == "kvm")


@pytest.mark.parametrize("answer", ["qemu", "kvm"])
def test_detect_virt_answer_is_kept(mocker, answer):
    """systemd-detect-virt says qemu under TCG and kvm under KVM: its answer stands, even against the clocksource."""
    files = dict(QEMU_DMI)
    files[CLOCKSOURCE] = "kvm-clock tsc hpet acpi_pm \n" if answer == "qemu" else "tsc hpet acpi_pm \n"
    info = PlatformInfo()
    detect_hypervisor(live_system(mocker, files, {"--vm": answer + "\n"}), info)
    assert info.hypervisor == answer and "systemd-detect-virt --vm: %s" % answer in info.evidence
    info = PlatformInfo()  # without DMI, detect-virt alone
    detect_hypervisor(live_system(mocker, {}, {"--vm": answer + "\n"}), info)
    assert info.hypervisor == answer


def test_tcg_hypervisor_is_informational(tmp_path):
    """'qemu' is a known hypervisor for the report and changes no verdict."""
    from imsprep.facts import Facts
    from imsprep.knowledge import Knowledge
    from imsprep.rules import system_rules

    facts = Facts(System("/"), Knowledge())
    facts.platform.hypervisor = "qemu"
    facts.platform.evidence = ["systemd-detect-virt --vm: qemu"]
    (finding,) = system_rules.platform_findings(facts)
    assert finding.code == "HYPERVISOR" and not finding.blocking and finding.severity == "info"
    assert finding.message.startswith("running on qemu (systemd-detect-virt --vm: qemu): QEMU without KVM")
