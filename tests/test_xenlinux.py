"""KERNEL_XEN_PV_ONLY on real x86_64 "xenlinux" kernel configs (XEN PV only: no boot on KVM at all),
and never on the 46 real pvops configs. Sources: tests/data/SOURCES.md, section xenlinux-configs/."""

import os

import pytest
from conftest import check_json
from fakeguest import FakeGuest, data

from imsprep.facts.kmod import parse_kernel_config
from imsprep.knowledge import Knowledge

XENLINUX = {
    # file -> (kernel version as the package installs it, the symbol that tells it)
    "centos-5-kernel-xen-2.6.18-274.7.1.el5-x86_64": ("2.6.18-274.7.1.el5xen", "CONFIG_X86_64_XEN"),
    "opensuse-kernel-source-2005-xen-x86_64": ("2.6.13-rc6-git11-xen", "CONFIG_XEN_X86_64"),
    # SUSE kernel-xen of the SLE 11 SP1 generation (2.6.32); its version as SLE 11 SP1 installs it
    "opensuse-kernel-source-2.6.32-xen-x86_64": ("2.6.32.12-0.7-xen", "CONFIG_X86_64_XEN"),
}


def read_config(*parts):
    with open(data(*parts)) as fh:
        return fh.read()


@pytest.mark.parametrize("name", sorted(XENLINUX))
def test_x86_64_xenlinux_kernel_is_not_ready_for_kvm(tmp_path, name):
    kver, symbol = XENLINUX[name]
    text = read_config("xenlinux-configs", name + ".config")
    assert symbol + "=y" in text.splitlines()
    guest = FakeGuest(str(tmp_path / "g"))
    guest.os_release("cloud-init_centos-6")
    guest.write("/boot/config-" + kver, text)
    guest.write("/boot/vmlinuz-" + kver, b"\0")
    guest.write("/lib/modules/%s/modules.dep" % kver, "")
    report, rc = check_json(guest.root)
    assert rc == 1
    assert not report["verdict"]["kvm"]["ready"]
    found = [f for f in report["findings"] if f["code"] == "KERNEL_XEN_PV_ONLY"]
    assert len(found) == 1, report["findings"]
    assert found[0]["targets"] == ["kvm"] and found[0]["severity"] == "error"
    assert symbol + "=y" in found[0]["message"] and kver in found[0]["message"]


def test_every_xenlinux_symbol_has_a_real_config():
    """Each symbol of the knowledge base is backed by a real config here, or by the i386 one
    already tested in test_check_fake (CONFIG_X86_XEN)."""
    symbols = Knowledge().drivers["xen_pv_only_symbols"]
    assert set(symbols) == {"CONFIG_X86_XEN", "CONFIG_X86_64_XEN", "CONFIG_XEN_X86_64"}
    for name, (_kver, symbol) in XENLINUX.items():
        assert symbol in symbols
        config = parse_kernel_config(read_config("xenlinux-configs", name + ".config"))
        assert config.get(symbol) == "y"
        assert config.get("CONFIG_X86_64") == "y"


PVOPS = sorted(f[: -len(".config")] for f in os.listdir(data("kernel-configs")))


def test_pvops_corpus_is_the_46_configs():
    assert len(PVOPS) == 46


@pytest.mark.parametrize("name", PVOPS)
def test_pvops_config_has_no_xenlinux_symbol(name):
    config = parse_kernel_config(read_config("kernel-configs", name + ".config"))
    for symbol in Knowledge().drivers["xen_pv_only_symbols"]:
        assert config.get(symbol) != "y", symbol
