"""The Debian package, built with dpkg-buildpackage from packaging/debian and installed with
apt into a debootstrapped guest, runs `imsprep check` on the guest's own python3 and libraries."""

import json
import os
import shutil
import subprocess

import guests
import pytest
from conftest import REPO, validate_report

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dpkg-buildpackage"),
                                                  reason="needs root and dpkg-dev/debhelper (tests/setup-deps.sh)")]


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    subprocess.run(["sh", os.path.join(REPO, "packaging", "build-deb.sh"), str(out)], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return str(next(out.glob("imsprep_*_all.deb")))


def test_deb_contents(deb, tmp_path):
    listing = subprocess.run(["dpkg-deb", "-c", deb], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout
    for path in ("./usr/bin/imsprep", "/imsprep/kb/drivers.json", "/imsprep/templates/report.txt.j2",
                 "./usr/share/man/man8/imsprep.8.gz", "./etc/imsprep/imsprep.conf",
                 "./usr/lib/imsprep/cloud-init-hook", "./lib/systemd/system/imsprep-cloud-hook.service",
                 "./etc/logrotate.d/imsprep", "./usr/share/bash-completion/completions/imsprep",
                 "./usr/share/zsh/vendor-completions/_imsprep", "/imsprep/schema/report-v1.json", "/imsprep/schema/fix-v1.json", "/imsprep/schema/rollback-v1.json",
                 "./etc/cloud/clean.d/99-imsprep", "/imsprep/kb/seal.json", "/imsprep/seal/operations.py",
                 "/imsprep/locale/zh_CN/LC_MESSAGES/imsprep.mo", "./usr/share/man/zh_CN/man8/imsprep.8.gz",
                 "/imsprep/generators/dracut.py", "/imsprep/generators/initramfs_tools.py", "/imsprep/generators/suse_mkinitrd.py",
                 "/imsprep/pkgmgr/dpkg.py", "/imsprep/pkgmgr/rpm.py", "/imsprep/bootloaders/grub2.py", "/imsprep/bootloaders/bls.py"):
        assert path in listing, path
    # every module of the source tree is in the package (a subpackage missing from pyproject's list would not be)
    for module in subprocess.run(["git", "ls-files", "imsprep/*.py"], cwd=REPO, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split():
        assert "./usr/lib/python3/dist-packages/%s\n" % module in listing + "\n", module
    assert "imsprep.po" not in listing  # the compiled catalogue ships, its source stays in the source package
    modes = {line.split()[-1]: line.split()[0] for line in listing.splitlines()}
    assert modes["./var/lib/imsprep/"] == "drwx------"
    info = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout
    for dep in ("python3-psutil", "python3-distro", "python3-jinja2", "python3-sh", "initramfs-tools | dracut", "util-linux (>= "):
        assert dep in info
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", deb, str(control)], check=True)
    postinst = (control / "postinst").read_text()
    assert "deb-systemd-helper enable 'imsprep-cloud-hook.service'" in postinst
    assert "rm -rf /var/lib/imsprep /var/log/imsprep /var/cache/imsprep" in (control / "postrm").read_text()


@pytest.mark.skipif(not shutil.which("lintian"), reason="needs lintian (tests/setup-deps.sh)")
def test_deb_is_lintian_clean(deb):
    """No error or warning at lintian's default level; info, pedantic and experimental findings are
    fixed or overridden with the reason given in packaging/debian/LINTIAN.md."""
    proc = subprocess.run(["lintian", "-EvIL", "+pedantic", deb], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    tags = [line for line in proc.stdout.splitlines() if line[:3] in ("E: ", "W: ", "I: ", "P: ", "X: ")]
    assert proc.returncode == 0 and tags == [], proc.stdout + proc.stderr


@pytest.mark.parametrize("suite", ["bullseye", "bookworm", "trixie"])
def test_deb_installs_and_checks_in_each_debian_release(deb, tmp_path, suite):
    """Python 3.9 / 3.11 / 3.13 with each release's own python3-sh, -distro, -jinja2, -psutil."""
    root = str(tmp_path / "guest")
    subprocess.run(["cp", "-a", guests.release_guest(suite), root], check=True)
    shutil.copyfile(deb, os.path.join(root, "tmp", os.path.basename(deb)))
    with guests.chroot_mounts(root):
        guests.run(["chroot", root, "apt-get", "install", "-y", "-q", "/tmp/" + os.path.basename(deb)])
        proc = subprocess.run(["chroot", root, "imsprep", "check", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        man = subprocess.run(["chroot", root, "test", "-s", "/usr/share/man/man8/imsprep.8.gz"])
        # in Chinese with this release's jinja2 and the catalogue the package build compiled
        chinese = subprocess.run(["chroot", root, "env", "LANG=zh_CN.UTF-8", "PYTHONIOENCODING=utf-8", "imsprep", "check"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # the completion works with this release's bash
        completion = subprocess.run(["chroot", root, "bash", "--norc", "--noprofile", "-c",
                                     "source /usr/share/bash-completion/completions/imsprep && complete -p imsprep"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        mode = os.stat(os.path.join(root, "var", "lib", "imsprep")).st_mode & 0o7777
        # purge takes the state, the records and the cache along
        for path in ("var/lib/imsprep/lock", "var/log/imsprep/changes.log", "var/cache/imsprep/initramfs-1/x.json"):
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as fh:
                fh.write("left by a run\n")
        guests.run(["chroot", root, "apt-get", "purge", "-y", "-q", "imsprep"])
    assert completion.returncode == 0 and " imsprep" in completion.stdout, completion.stderr
    assert mode == 0o700
    for path in ("var/lib/imsprep", "var/log/imsprep", "var/cache/imsprep", "etc/imsprep", "usr/lib/imsprep"):
        assert not os.path.exists(os.path.join(root, path)), path
    assert proc.returncode in (0, 1), proc.stderr.decode()
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["distro"]["id"] == "debian" and report["kernels"][0]["version"] == guests.kver_of(root)
    assert report["kernels"][0]["targets"]["kvm"]["ready"] is True
    assert man.returncode == 0
    assert chinese.returncode == proc.returncode and "检查结果" in chinese.stdout.decode("utf-8"), chinese.stderr.decode()


@pytest.mark.skipif(not shutil.which("rpmbuild"), reason="needs rpm (tests/setup-deps.sh)")
def test_rpm_builds_with_the_right_files_and_requirements(tmp_path):
    # the RHEL 9 build; tests/test_rpm_targets.py checks every target's Requires against its base repositories
    subprocess.run(["sh", os.path.join(REPO, "packaging", "build-rpm.sh"), str(tmp_path), "el9"], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rpm = str(next(tmp_path.glob("imsprep-*.el9.noarch.rpm")))
    files = subprocess.run(["rpm", "-qpl", rpm], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
    for path in ("/usr/bin/imsprep", "/usr/share/imsprep/imsprep/cli.py", "/usr/share/imsprep/imsprep/kb/drivers.json",
                 "/usr/share/imsprep/imsprep/templates/report.txt.j2", "/usr/share/man/man8/imsprep.8.gz",
                 "/usr/share/imsprep/vendor/sh.py",
                 "/etc/imsprep/imsprep.conf", "/usr/lib/imsprep/cloud-init-hook", "/usr/lib/systemd/system/imsprep-cloud-hook.service", "/var/lib/imsprep",
                 "/etc/cloud/clean.d/99-imsprep", "/usr/share/imsprep/imsprep/kb/seal.json",
                 "/usr/share/imsprep/imsprep/seal/operations.py", "/usr/share/imsprep/imsprep/locale/zh_CN/LC_MESSAGES/imsprep.mo",
                 "/usr/share/man/zh_CN/man8/imsprep.8.gz", "/etc/logrotate.d/imsprep", "/var/log/imsprep",
                 "/usr/share/bash-completion/completions/imsprep", "/usr/share/zsh/site-functions/_imsprep",
                 "/usr/share/imsprep/imsprep/schema/report-v1.json", "/usr/share/imsprep/imsprep/schema/fix-v1.json",
                 "/usr/share/imsprep/imsprep/schema/rollback-v1.json"):
        assert path in files, path
    # every module of the source tree is in the payload, with its byte code
    for module in subprocess.run(["git", "ls-files", "imsprep/*.py"], cwd=REPO, stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split():
        assert "/usr/share/imsprep/" + module in files, module
    langs = subprocess.run(["rpm", "-qp", "--qf", "[%{FILELANGS} %{FILENAMES}\n]", rpm], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    assert "zh_CN /usr/share/imsprep/imsprep/locale/zh_CN/LC_MESSAGES/imsprep.mo\n" in langs
    assert not [f for f in files if f.endswith(".po")]
    requires = subprocess.run(["rpm", "-qpR", rpm], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout.split("\n")
    for dep in ("python3-psutil", "python3-jinja2", "dracut"):
        assert dep in requires
    provides = subprocess.run(["rpm", "-qp", "--provides", rpm], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split("\n")
    assert "python3-sh" not in requires and "bundled(python3-sh) = 1.14.3" in provides and "bundled(python3-distro) = 1.9.0" in provides
    config = subprocess.run(["rpm", "-qp", "--configfiles", rpm], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
    assert "/etc/imsprep/imsprep.conf" in config and "/etc/logrotate.d/imsprep" in config
    # the payload runs: unpack it and check the sample guest with Debian's python3
    payload = tmp_path / "payload"
    payload.mkdir()
    subprocess.run("rpm2cpio %s | cpio -idm --quiet" % rpm, shell=True, cwd=str(payload), check=True)
    proc = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/vendor']; from imsprep.cli import main; "
                           "sys.exit(main(['check', '--root', sys.argv[2], '--format', 'json']))",
                           str(payload / "usr" / "share" / "imsprep"), os.path.join(REPO, "examples", "sample-guest")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": os.environ["PATH"], "IMSPREP_CONFIG": "/nonexistent"})
    assert proc.returncode == 1, proc.stderr.decode()
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["verdict"]["kvm"]["ready"] is False
    # in Chinese, from the catalogue compiled in %build (no .po in the payload)
    proc = subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/vendor']; from imsprep.cli import main; "
                           "sys.exit(main(['check', '--root', sys.argv[2]]))",
                           str(payload / "usr" / "share" / "imsprep"), os.path.join(REPO, "examples", "sample-guest")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={"PATH": os.environ["PATH"], "IMSPREP_CONFIG": "/nonexistent", "LANG": "zh_CN.UTF-8", "PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 1 and "未就绪" in proc.stdout.decode("utf-8"), proc.stderr.decode()
