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


def _section(page, name):
    """The roff source of one .SH section, with roff's escaped hyphens plain again."""
    text = page.replace("\\-", "-")
    start = text.index(".SH %s\n" % name)
    end = text.find("\n.SH ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_man_page_environment_files_exit_status_see_also():
    page = render()
    environment = _section(page, "ENVIRONMENT")
    for name in ("IMSPREP_CONFIG", "NO_COLOR", "TERM"):
        assert "\\fB%s\\fR" % name in environment, name
    files = _section(page, "FILES")
    for path in ("/etc/imsprep/imsprep.conf", "/etc/imsprep/cloud-init.conf", "/var/lib/imsprep/runs",
                 "/var/lib/imsprep/lock", "/var/log/imsprep/changes.log", "/var/log/imsprep/cloud-init.log",
                 "/var/cache/imsprep", "/usr/lib/imsprep/cloud-init-hook"):
        assert "\\fI" + path in files, path
    status = _section(page, "EXIT STATUS")
    codes = [line for line in status.splitlines() if line.startswith("\\fB")]
    assert codes == ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR", "\\fB3\\fR"]
    assert "not ready" in status and "internal error" in status
    see_also = _section(page, "SEE ALSO")
    for ref in ("dracut(8)", "mkinitramfs(8)", "update-initramfs(8)", "grub-mkconfig(8)", "cloud-init(1)",
                "virt-v2v(1)", "virt-sysprep(1)"):
        name, _, section = ref.partition("(")
        assert "\\fB%s\\fR(%s" % (name, section) in see_also, ref


@pytest.mark.skipif(not shutil.which("man"), reason="man-db not installed")
def test_man_page_reads_with_man(tmp_path):
    """What an admin sees with `man -l`: every section, nothing garbled, no warning from the formatter."""
    path = tmp_path / "imsprep.8"
    path.write_text(render())
    proc = subprocess.run(["man", "-l", "--warnings=all", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="200", MAN_KEEP_FORMATTING="",
                                                            PAGER="cat", MANPAGER="cat"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "CHECK", "FIX", "ROLLBACK", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"):
        assert "\n" + heading + "\n" in proc.stdout, heading
    assert "virt-sysprep(1)" in proc.stdout and "/var/lib/imsprep/lock" in proc.stdout
    assert "\\f" not in proc.stdout and "\\-" not in proc.stdout  # no escape printed raw
