"""Progress during long steps: a heartbeat with the stage and elapsed time, each step's time in the
summary, nothing but the result with -q."""

import time

from test_check_fake import debian_guest

from imsprep import cli
from imsprep.heartbeat import heartbeat


def test_heartbeat_says_the_stage_and_the_time_until_the_step_ends():
    lines = []
    with heartbeat(lines.append, "building the initramfs of 6.1.0-50-amd64", every=0.05):
        time.sleep(0.32)
    count = len(lines)
    assert count >= 3 and all(ln.startswith("  ... building the initramfs of 6.1.0-50-amd64: ") for ln in lines), lines
    time.sleep(0.2)
    assert len(lines) == count  # stopped with the step


def test_fix_summary_gives_each_step_its_time_and_quiet_prints_no_progress(tmp_path, capsys):
    guest, kver = debian_guest(tmp_path / "g")
    guest.write("/etc/fstab", "UUID=1234-5678 / ext4 defaults 0 1\n/dev/xvda9 /data ext4 defaults 0 2\n")
    guest.write("/etc/udev/rules.d/70-persistent-net.rules",
                'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n')
    rc = cli.main(["fix", "--root", guest.root, "--yes", "--color", "never"])
    out, err = capsys.readouterr()
    assert rc in (0, 1), err
    assert "Applied: 1" in out
    step_lines = [ln for ln in out.splitlines() if ln.strip().endswith("persistent NIC names would rename the new instance's NIC")
                  and " s  " in ln]
    assert step_lines, out
    assert "- delete /etc/udev/rules.d/70-persistent-net.rules" in err
    cli.main(["rollback", "--root", guest.root, "--yes", "-q"])
    capsys.readouterr()
    rc = cli.main(["fix", "--root", guest.root, "--yes", "-q", "--color", "never"])
    out, err = capsys.readouterr()
    assert "- delete" not in err and "journal:" not in err, err
