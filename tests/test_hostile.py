"""--root on hostile or broken guest trees: no read or write outside the root, no hang, and
parsers that fail only with clear errors (fuzzed with hypothesis)."""

import os

from conftest import check_json, run_imsprep
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_check_fake import debian_guest

from imsprep.errors import ParseError
from imsprep.facts.bootloader import parse_extlinux, parse_grub2, parse_legacy
from imsprep.facts.generator import parse_shell_assignments
from imsprep.facts.initramfs import parse_lister_output
from imsprep.facts.kmod import ModulesDep, parse_kernel_config, parse_modules_builtin
from imsprep.facts.network import _ifcfg_values


def test_symlinks_out_of_the_root_and_loops(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow").write_text('ID=hostile\nNAME="host secret"\n')
    (outside / "fstab").write_text("/dev/xvda9 / ext4 defaults 0 1\n")
    guest, kver = debian_guest(tmp_path / "g")
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.lexists(guest.path(name)):
            os.unlink(guest.path(name))
    guest.symlink("/etc/os-release", str(outside / "shadow"))  # absolute: must resolve inside the guest
    guest.symlink("/etc/fstab", "../../../../../../../../../../../../.." + str(outside / "fstab"))
    guest.symlink("/lib/modules/%s/kernel/loop" % kver, "/lib/modules")  # a loop through /lib/modules
    guest.symlink("/boot/grub", "/boot/grub")  # a self loop
    guest.symlink("/etc/modprobe.d", "/etc/modprobe.d/../modprobe.d/x")
    sentinel = os.stat(str(outside / "shadow"))
    report, rc = check_json(guest.root)
    assert report["distro"]["id"] != "hostile" and report["device_refs"] == []
    assert rc == 0
    proc = run_imsprep("fix", "--root", guest.root, "--yes")
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    assert os.listdir(str(outside)) == ["shadow", "fstab"] or sorted(os.listdir(str(outside))) == ["fstab", "shadow"]
    assert os.stat(str(outside / "shadow")).st_mtime == sentinel.st_mtime


def test_boot_is_a_link_to_the_root(tmp_path):
    guest, kver = debian_guest(tmp_path / "g")
    os.rename(guest.path("/boot"), guest.path("/realboot"))
    guest.symlink("/boot", "/")
    report, rc = check_json(guest.root)
    assert rc == 1 and report["kernels"] == []  # the kernel image is no longer under /boot


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
LINES = st.lists(st.one_of(TEXT, st.sampled_from([
    "CONFIG_VIRTIO=y", "# CONFIG_X is not set", "kernel/a/virtio.ko: kernel/b/c.ko", "menuentry 'x' {", "}",
    "set default=\"1>0\"", "title x", "kernel /vmlinuz root=/dev/xvda1", "initrd /x", "LABEL a", "DEFAULT a",
    "add_drivers+=\" a b \"", "hostonly='yes", "BOOTPROTO=none", "submenu 'y' {", "linux /boot/vmlinuz-1 ro",
    "-rw-r--r-- 1 root root 8168 Apr 11 2018 usr/lib/modules/3.10/kernel/virtio.ko.xz"])), max_size=30).map("\n".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_text_parsers_never_crash(text):
    parse_kernel_config(text)
    parse_modules_builtin(text)
    try:
        ModulesDep.parse(text).closure("virtio")
    except ParseError:
        pass
    parse_grub2(text, "grub.cfg")
    parse_legacy(text, "menu.lst")
    parse_extlinux(text, "extlinux.conf")
    parse_shell_assignments(text)
    parse_lister_output(text, "img", "lsinitrd")
    _ifcfg_values(text)
