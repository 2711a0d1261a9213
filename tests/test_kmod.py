"""Module naming, kernel config and modules.dep/builtin parsing, on real distro data."""

import os
import re

import pytest
from fakeguest import data

from imsprep.facts.kernels import Kernel
from imsprep.facts.kmod import ModulesDep, module_name_of_path, normalize, parse_kernel_config, parse_modules_builtin
from imsprep.knowledge import Knowledge
from imsprep.rules.drivers import driver_state


def expected_table():
    rows = {}
    columns = None
    with open(data("EXPECTED.md")) as fh:
        for line in fh:
            if line.startswith("| config file |"):
                columns = [c.strip() for c in line.strip().strip("|").split("|")]
                continue
            if columns and line.startswith("| ") and not line.startswith("|---"):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) == len(columns) and cells[0] != "config file":
                    rows[cells[0]] = dict(zip(columns, cells))
            elif columns and not line.strip():
                if rows:
                    break
    return rows


EXPECTED = expected_table()
DRIVERS = ["virtio", "virtio_ring", "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "xen-blkfront", "xen-netfront"]


def test_expected_table_covers_every_config():
    configs = {f[: -len(".config")] for f in os.listdir(data("kernel-configs"))}
    assert len(EXPECTED) == 46
    assert configs == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_only_state_matches_ground_truth(name):
    """With only the kernel config (no modules.builtin, no module files), every driver of every
    one of the 46 real configs is judged as the ground truth says: y built-in, m module (file
    missing here, so 'absent' with the =m evidence), n/- absent."""
    with open(data("kernel-configs", name + ".config")) as fh:
        config = parse_kernel_config(fh.read())
    kernel = Kernel("test")
    kernel.config = config
    kernel.config_path = "/boot/config-test"
    specs = {d["name"]: d for t in ("kvm", "xen") for d in Knowledge().target_drivers(t)}
    for driver in DRIVERS:
        truth = EXPECTED[name][driver]
        status = driver_state(kernel, driver, specs[driver]["symbols"])
        if truth == "y":
            assert status.state == "builtin", (driver, status.evidence)
        elif truth == "m":
            assert status.state == "absent" and "=m" in status.evidence, (driver, status.evidence)
        else:
            assert status.state == "absent" and "=m" not in status.evidence, (driver, status.evidence)


def test_normalize_and_suffixes():
    assert normalize("kernel/drivers/block/xen-blkfront.ko.xz") == "xen_blkfront"
    assert normalize("virtio_blk.ko.zst") == "virtio_blk"
    assert normalize("virtio-blk.ko.gz") == "virtio_blk"
    assert module_name_of_path("usr/lib/modules/6.1/kernel/drivers/nvmem/nvmem_core.ko") == "nvmem_core"
    assert module_name_of_path("etc/modprobe.d/virtio_blk.conf") is None
    assert module_name_of_path("lib/modules/6.1/kernel/x/virtio_blk_foo.ko") == "virtio_blk_foo"


def test_config_last_occurrence_wins_and_unset():
    config = parse_kernel_config("CONFIG_VIRTIO_BLK=m\n# CONFIG_VIRTIO_NET is not set\nCONFIG_VIRTIO_BLK=y\nCONFIG_LOCALVERSION=\"-x\"\n")
    assert config == {"CONFIG_VIRTIO_BLK": "y", "CONFIG_VIRTIO_NET": "n", "CONFIG_LOCALVERSION": "-x"}


@pytest.mark.parametrize("kernel", sorted(os.listdir(data("debian-modules"))))
def test_debian_builtin_and_dep_agree_with_config(kernel):
    """The Debian cross-check of EXPECTED.md, mechanically: y -> modules.builtin, m -> modules.dep."""
    with open(data("debian-modules", kernel, "modules.builtin")) as fh:
        builtin = parse_modules_builtin(fh.read())
    with open(data("debian-modules", kernel, "modules.dep.filtered")) as fh:
        dep = ModulesDep.parse(fh.read())
    for driver in DRIVERS:
        truth = EXPECTED[kernel][driver]
        name = normalize(driver)
        if truth == "y":
            assert name in builtin and name not in dep.paths
        elif truth == "m":
            assert name in dep.paths and name not in builtin


def test_dependency_closure_real_bookworm():
    with open(data("debian-modules", "debian-12-bookworm-6.1.0-50-x86_64", "modules.dep.filtered")) as fh:
        dep = ModulesDep.parse(fh.read())
    assert dep.closure("virtio_blk") == ["virtio_ring", "virtio", "virtio_blk"]
    closure = dep.closure("virtio-pci")
    assert closure[-1] == "virtio_pci"
    assert set(closure) == {"virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio"}
    assert set(dep.closure("virtio_net")) >= {"net_failover", "failover", "virtio_ring", "virtio"}


def test_modules_dep_garbage_is_a_parse_error():
    from imsprep.errors import ParseError

    with pytest.raises(ParseError):
        ModulesDep.parse("this is not modules.dep\n")
    with pytest.raises(ParseError):
        ModulesDep.parse("kernel/foo.txt: kernel/bar.ko\n")


def test_builtin_virtio_on_trixie_means_nothing_needed():
    with open(data("debian-modules", "debian-13-trixie-6.12.117+deb13-x86_64", "modules.builtin")) as fh:
        builtin = parse_modules_builtin(fh.read())
    assert {"virtio", "virtio_ring", "virtio_pci"} <= builtin
    assert not re.search("virtio_blk", " ".join(builtin))
