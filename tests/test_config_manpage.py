"""/etc/imsprep/imsprep.conf defaults under the command line, and the man page generated from it."""

import os
import shutil
import subprocess

import pytest
from conftest import REPO, check_json, run_imsprep
from fakeguest import KVM_MODULES_61, XEN_MODULES
from test_check_fake import debian_guest

from imsprep.cli import build_parser
from imsprep.manpage import render


def with_config(monkeypatch, tmp_path, text):
    path = tmp_path / "imsprep.conf"
    path.write_text(text)
    monkeypatch.setenv("IMSPREP_CONFIG", str(path))


def test_config_targets_and_flag_override(tmp_path, monkeypatch):
    guest, _ = debian_guest(tmp_path / "g", modules=["ext4"] + XEN_MODULES)  # XEN ready, KVM not
    with_config(monkeypatch, tmp_path, "[imsprep]\ntargets = xen\n")
    report, rc = check_json(guest.root)
    assert rc == 0 and report["targets"] == ["xen"]
    report, rc = check_json(guest.root, "--target", "all")
    assert rc == 1 and report["targets"] == ["kvm", "xen"]


def test_config_extra_drivers(tmp_path, monkeypatch):
    guest, kver = debian_guest(tmp_path / "g", modules=KVM_MODULES_61 + XEN_MODULES)
    with_config(monkeypatch, tmp_path, "[imsprep]\nextra_drivers = xen-kbdfront, virtio_balloon, nvmem_fake\n")
    report, rc = check_json(guest.root)
    assert rc == 1
    messages = " ".join(f["message"] for f in report["findings"] if f["blocking"])
    assert "lacks KVM module(s): virtio_balloon" in messages  # a module, not in this initramfs
    assert "no nvmem_fake driver" in messages  # in no kernel at all
    assert "kbdfront" not in messages  # built into Debian's 6.1 kernel: nothing needed


def test_config_ignore_suites(tmp_path, monkeypatch):
    guest, _ = debian_guest(tmp_path / "g")
    guest.executable("/usr/bin/vmtoolsd")
    with_config(monkeypatch, tmp_path, "[imsprep]\nignore_suites = vmware-tools\n")
    proc = run_imsprep("fix", "--root", guest.root, "--dry-run")
    assert b"VMware Tools is left alone (ignore_suites in imsprep.conf)" in proc.stdout


@pytest.mark.parametrize("text,message", [("[imsprep]\ntargets = vmware\n", "targets must be"),
                                          ("[imsprep]\ntarget = kvm\n", "unknown setting"),
                                          ("not an ini file", "cannot read")])
def test_bad_config_is_exit_2(tmp_path, monkeypatch, text, message):
    guest, _ = debian_guest(tmp_path / "g")
    with_config(monkeypatch, tmp_path, text)
    proc = run_imsprep("check", "--root", guest.root)
    assert proc.returncode == 2 and message.encode() in proc.stderr and b"Traceback" not in proc.stderr


def test_man_page_has_every_option():
    page = render()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        assert ".SH %s" % name.upper() in page
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option.replace("-", "\\-") in page, option
    assert "/etc/imsprep/imsprep.conf" in page.replace("\\-", "-")


@pytest.mark.skipif(not shutil.which("groff"), reason="groff not installed")
def test_man_page_renders_without_warnings(tmp_path):
    path = tmp_path / "imsprep.8"
    path.write_text(render())
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                          env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
