"""NIC configuration bound to a name or MAC the other hypervisor does not give (issue #9 item 7),
in every format a guest keeps it in, with the files as the distros write them: check reports
each (code, file, line, remedy), fix rewrites it, and the check after the fix reports none.
In-process runs of imsprep.cli.main on fake guest trees."""

import json
import os

from test_check_fake import GRUB_CFG, debian_guest

from imsprep import cli

ROOT = "UUID=0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11"
DEFAULT_GRUB = """# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""
# Debian 12 on XEN with systemd-networkd: udev names the vif enX0
NETWORKD_XEN = "[Match]\nName=enX0\n\n[Network]\nDHCP=yes\n"
# Debian 12 on XEN with ifupdown (the installer's /etc/network/interfaces)
IFUPDOWN_XEN = """# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug enX0
iface enX0 inet dhcp
# This is an autoconfigured IPv6 interface
iface enX0 inet6 auto
"""
# Ubuntu 22.04 server installer (subiquity) on KVM, virtio NIC in slot 3
NETPLAN_KVM = """# This is the network config written by 'subiquity'
network:
  ethernets:
    ens3:
      dhcp4: true
  version: 2
"""
# cloud-init's netplan on an OpenStack KVM instance: bound by MAC, renamed by set-name
NETPLAN_CLOUDINIT = """# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.  To disable cloud-init's
# network configuration capabilities, write a file
# /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg with the following:
# network: {config: disabled}
network:
    ethernets:
        ens3:
            dhcp4: true
            match:
                macaddress: fa:16:3e:5d:2b:19
            set-name: ens3
    version: 2
"""
# NetworkManager 1.42 keyfile (RHEL 9 / Fedora) for a KVM virtio NIC
NM_KEYFILE = """[connection]
id=Wired connection 1
uuid=0f9a1a3c-5b8e-3d2f-9a60-2e4ccd8c1b7e
type=ethernet
autoconnect-priority=-999
interface-name=enp1s0
timestamp=1700000000

[ethernet]
mac-address=52:54:00:12:34:56

[ipv4]
method=auto

[ipv6]
addr-gen-mode=eui64
method=auto

[proxy]
"""
# RHEL 7 on XEN, as anaconda writes it: eth0 by MAC
IFCFG_RHEL = """TYPE=Ethernet
BOOTPROTO=dhcp
DEFROUTE=yes
PEERDNS=yes
IPV4_FAILURE_FATAL=no
IPV6INIT=yes
NAME=eth0
UUID=2d6a1b0c-6b35-4f43-8f05-3b8c3fb1f1a2
DEVICE=eth0
ONBOOT=yes
HWADDR=00:16:3e:1a:2b:3c
"""


def guest_with(tmp_path, files, grub=True):
    guest, kver = debian_guest(tmp_path / "g")
    if grub:
        guest.write("/etc/default/grub", DEFAULT_GRUB)
        guest.write("/boot/grub/grub.cfg", GRUB_CFG.format(default="0", new=kver, old=kver, rootdev=ROOT))
    for path, text in files.items():
        guest.write(path, text, mode=0o600 if "NetworkManager" in path else 0o644)
    return guest


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def net_findings(capsys, guest):
    rc, out, _ = run(capsys, "check", "--root", guest.root, "--format", "json")
    report = json.loads(out)
    return rc, [f for f in report["findings"] if f["code"].startswith("NET_")]


def fix(capsys, guest):
    rc, out, err = run(capsys, "fix", "--root", guest.root, "--yes", "--format", "json")
    assert "Traceback" not in err, err
    return rc, json.loads(out)


def read(guest, path):
    with open(guest.path(path)) as fh:
        return fh.read()


def linux_lines(guest):
    return [line for line in read(guest, "/boot/grub/grub.cfg").splitlines() if line.strip().startswith("linux")]


def test_networkd_bound_to_xen_name(tmp_path, capsys):
    """Debian 12 made on XEN: [Match] Name=enX0 finds no NIC on KVM (ens2); fix matches every wired NIC."""
    guest = guest_with(tmp_path, {"/etc/systemd/network/50-enX0.network": NETWORKD_XEN})
    rc, found = net_findings(capsys, guest)
    assert rc == 0  # a warning: the image boots, without network
    (finding,) = found
    assert finding["code"] == "NET_NAME_BOUND" and finding["severity"] == "warning"
    assert finding["file"] == "/etc/systemd/network/50-enX0.network" and finding["line"] == 2
    assert finding["targets"] == ["kvm"] and "enX0" in finding["message"] and "ens2" in finding["message"]
    assert "Name=en* eth*" in finding["remediation"]

    rc, result = fix(capsys, guest)
    assert rc == 0 and result["applied"]["failed"] == []
    assert read(guest, "/etc/systemd/network/50-enX0.network") == "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
    # no kernel argument needed for a wildcard: the boot configuration is untouched
    assert "net.ifnames=0" not in read(guest, "/etc/default/grub")
    assert [f for f in result["report"]["findings"] if f["code"].startswith("NET_")] == []
    assert net_findings(capsys, guest) == (0, [])


def test_networkd_neutral_match_is_not_reported(tmp_path, capsys):
    guest = guest_with(tmp_path, {"/etc/systemd/network/80-dhcp.network": "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n",
                                  "/etc/systemd/network/10-lo.network": "[Match]\nName=lo\n",
                                  "/etc/systemd/network/20-br.network": "[Match]\nName=br0\n\n[Network]\nDHCP=yes\n"})
    assert net_findings(capsys, guest) == (0, [])
    # with net.ifnames=0 the NIC is eth0 everywhere: en* no longer matches, eth0 does
    guest.write("/etc/default/grub", DEFAULT_GRUB.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="net.ifnames=0"'))
    cfg = read(guest, "/boot/grub/grub.cfg").replace("ro  quiet", "ro  quiet net.ifnames=0")
    guest.write("/boot/grub/grub.cfg", cfg)
    _, found = net_findings(capsys, guest)
    assert [(f["code"], f["line"], f["targets"]) for f in found] == [("NET_NAME_BOUND", 2, ["kvm", "xen"])]
    guest.write("/etc/systemd/network/80-dhcp.network", "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n")
    assert net_findings(capsys, guest) == (0, [])


def test_ifupdown_bound_to_xen_name_becomes_eth0_with_ifnames(tmp_path, capsys):
    """interfaces(5) cannot match by pattern: enX0 becomes eth0 and net.ifnames=0 goes on the kernel
    command line (/etc/default/grub and grub.cfg), as RHEL/CentOS cloud images do."""
    guest = guest_with(tmp_path, {"/etc/network/interfaces": IFUPDOWN_XEN})
    guest.write("/usr/sbin/grub-mkconfig", "#!/bin/sh\nexit 1\n", mode=0o755)  # cannot run here: fallback
    _, found = net_findings(capsys, guest)
    assert [(f["code"], f["line"]) for f in found] == [("NET_NAME_BOUND", 11), ("NET_NAME_BOUND", 12), ("NET_NAME_BOUND", 14)]
    assert all(f["file"] == "/etc/network/interfaces" and "net.ifnames=0" in f["remediation"] for f in found)

    rc, result = fix(capsys, guest)
    assert rc == 0 and result["applied"]["failed"] == []
    assert read(guest, "/etc/network/interfaces") == IFUPDOWN_XEN.replace("enX0", "eth0")
    assert 'GRUB_CMDLINE_LINUX="net.ifnames=0"' in read(guest, "/etc/default/grub")
    assert linux_lines(guest) and all(line.endswith("ro  quiet net.ifnames=0") for line in linux_lines(guest))
    # one action per boot file, the network's and nothing else
    summaries = [a["summary"] for a in result["plan"]["actions"]]
    assert len([s for s in summaries if "/etc/default/grub" in s]) == 1
    assert len([s for s in summaries if "grub.cfg" in s]) == 1
    (fallback,) = result["applied"]["fallbacks"]
    assert fallback.startswith("/boot/grub/grub.cfg: grub-mkconfig could not regenerate it")
    assert net_findings(capsys, guest) == (0, [])
    rc, result = fix(capsys, guest)  # a second fix has nothing to do
    assert result["plan"]["actions"] == []


def test_ifupdown_without_boot_configuration_is_left_and_said(tmp_path, capsys):
    guest = guest_with(tmp_path, {"/etc/network/interfaces": IFUPDOWN_XEN}, grub=False)
    rc, out, _ = run(capsys, "fix", "--root", guest.root, "--dry-run")
    assert "! cannot fix: /etc/network/interfaces:11: bound to enX0 and there is no boot configuration" in out
    assert "edit /etc/network/interfaces" not in out


def test_netplan_by_name_and_by_mac(tmp_path, capsys):
    guest = guest_with(tmp_path, {"/etc/netplan/00-installer-config.yaml": NETPLAN_KVM,
                                  "/etc/netplan/50-cloud-init.yaml": NETPLAN_CLOUDINIT})
    _, found = net_findings(capsys, guest)
    assert sorted((f["code"], f["file"], f["line"]) for f in found) == [
        ("NET_MAC_PINNED", "/etc/netplan/50-cloud-init.yaml", 11),
        ("NET_NAME_BOUND", "/etc/netplan/00-installer-config.yaml", 4)]
    rc, result = fix(capsys, guest)
    assert rc == 0
    assert read(guest, "/etc/netplan/00-installer-config.yaml") == (
        "# This is the network config written by 'subiquity'\nnetwork:\n  ethernets:\n    ens3:\n"
        '      match:\n        name: "e*"\n      dhcp4: true\n  version: 2\n')
    cloud = read(guest, "/etc/netplan/50-cloud-init.yaml")
    assert cloud.endswith('        ens3:\n            match:\n                name: "e*"\n            dhcp4: true\n    version: 2\n')
    assert "macaddress" not in cloud and "set-name" not in cloud
    assert net_findings(capsys, guest) == (0, [])


def test_networkmanager_keyfile(tmp_path, capsys):
    path = "/etc/NetworkManager/system-connections/Wired connection 1.nmconnection"
    guest = guest_with(tmp_path, {path: NM_KEYFILE})
    _, found = net_findings(capsys, guest)
    assert sorted((f["code"], f["line"]) for f in found) == [("NET_MAC_PINNED", 10), ("NET_NAME_BOUND", 6)]
    assert next(f for f in found if f["code"] == "NET_NAME_BOUND")["targets"] == ["kvm", "xen"]  # enp1s0: another slot is ens3
    fix(capsys, guest)
    text = read(guest, path)
    assert "interface-name" not in text and "mac-address" not in text
    assert text == NM_KEYFILE.replace("interface-name=enp1s0\n", "").replace("mac-address=52:54:00:12:34:56\n", "")
    assert oct(os.stat(guest.path(path)).st_mode & 0o777) == "0o600"  # NetworkManager ignores a readable keyfile
    assert net_findings(capsys, guest) == (0, [])


def test_rhel_ifcfg_eth0_by_mac(tmp_path, capsys):
    """RHEL's ifcfg-eth0 with HWADDR: without net.ifnames=0, eth0 exists on neither target."""
    path = "/etc/sysconfig/network-scripts/ifcfg-eth0"
    guest = guest_with(tmp_path, {path: IFCFG_RHEL})
    _, found = net_findings(capsys, guest)
    assert sorted((f["code"], f["line"]) for f in found) == [("NET_MAC_PINNED", 11), ("NET_NAME_BOUND", 9)]
    fix(capsys, guest)
    assert read(guest, path) == IFCFG_RHEL.replace("HWADDR=00:16:3e:1a:2b:3c\n", "")
    assert 'GRUB_CMDLINE_LINUX="net.ifnames=0"' in read(guest, "/etc/default/grub")
    assert net_findings(capsys, guest) == (0, [])


def test_ifcfg_predictable_name_is_renamed(tmp_path, capsys):
    path = "/etc/sysconfig/network-scripts/ifcfg-ens3"
    text = "TYPE=Ethernet\nBOOTPROTO=none\nNAME=ens3\nDEVICE=ens3\nONBOOT=yes\nIPADDR=10.0.0.5\nPREFIX=24\n"
    guest = guest_with(tmp_path, {path: text})
    fix(capsys, guest)
    assert not os.path.exists(guest.path(path))
    assert read(guest, "/etc/sysconfig/network-scripts/ifcfg-eth0") == \
        "TYPE=Ethernet\nBOOTPROTO=dhcp\nNAME=eth0\nDEVICE=eth0\nONBOOT=yes\n"
    assert net_findings(capsys, guest) == (0, [])
    rc, _, _ = run(capsys, "rollback", "--root", guest.root, "--yes")
    assert rc == 0 and read(guest, path) == text and not os.path.exists(guest.path("/etc/sysconfig/network-scripts/ifcfg-eth0"))


def test_udev_rule_and_link_file_naming_by_mac(tmp_path, capsys):
    link = "/etc/systemd/network/10-wan.link"
    rules = "/etc/udev/rules.d/60-net-names.rules"
    guest = guest_with(tmp_path, {
        link: "[Match]\nMACAddress=00:16:3e:1a:2b:3c\n\n[Link]\nName=wan0\n",
        rules: '# local names\nSUBSYSTEM=="net", ACTION=="add", ATTR{address}=="00:16:3e:4d:5e:6f", NAME="lan0"\n',
        "/etc/systemd/network/20-wan.network": "[Match]\nName=wan0\n\n[Network]\nDHCP=yes\n"})
    _, found = net_findings(capsys, guest)
    assert sorted((f["code"], f["file"], f["line"]) for f in found) == [
        ("NET_NAME_BOUND", "/etc/systemd/network/20-wan.network", 2),
        ("NET_NAME_RULE", link, 2), ("NET_NAME_RULE", rules, 2)]
    fix(capsys, guest)
    assert not os.path.exists(guest.path(link))
    assert read(guest, rules).splitlines()[1].startswith("# imsprep: disabled")
    assert read(guest, "/etc/systemd/network/20-wan.network").startswith("[Match]\nName=en* eth*\n")
    assert net_findings(capsys, guest) == (0, [])


def test_fix_summary_names_the_fallback_and_why_not_ready(tmp_path, capsys):
    """The text summary: 'Applied: N (1 by a fallback)', a FALLBACK line, and when fix ends not
    ready the reason next to the counts. grub-mkconfig here fails (exit 1, or cannot start in a
    sandbox without /bin/sh): the fallback either way."""
    guest = guest_with(tmp_path, {"/etc/network/interfaces": IFUPDOWN_XEN})
    guest.write("/usr/sbin/grub-mkconfig", "#!/bin/sh\nexit 1\n", mode=0o755)
    kver = "6.1.0-50-amd64"
    guest.initramfs(kver, ["ext4", "xen_blkfront", "xen_netfront"])  # no virtio: the rebuild must happen
    guest.write("/usr/sbin/mkinitramfs", "#!/bin/sh\nexit 1\n", mode=0o755)  # and it fails
    rc, out, err = run(capsys, "fix", "--root", guest.root, "--yes")
    assert rc == 1
    plan_line = next(line for line in out.splitlines() if "regenerate /boot/grub/grub.cfg" in line)
    assert "if it cannot run here, edit /boot/grub/grub.cfg in place" in plan_line
    summary = next(line for line in out.splitlines() if line.startswith("Applied: "))
    assert summary.startswith("Applied: ") and "(1 by a fallback), failed: 1; still not ready for KVM: " in summary
    assert "virtio" in summary.split("still not ready for KVM: ", 1)[1]
    fallback = next(line for line in out.splitlines() if line.startswith("  FALLBACK "))
    assert "/boot/grub/grub.cfg: grub-mkconfig could not regenerate it" in fallback and "net.ifnames=0" in fallback


def test_neutral_pattern_follows_when_ifnames_goes_on(tmp_path, capsys):
    """Name=en* is right today; once fix puts net.ifnames=0 on for the ifupdown stanza, the NIC is
    eth0, so the same run widens it to en* eth*."""
    unit = "/etc/systemd/network/80-dhcp.network"
    guest = guest_with(tmp_path, {"/etc/network/interfaces": IFUPDOWN_XEN,
                                  unit: "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n"})
    _, found = net_findings(capsys, guest)
    assert {f["file"] for f in found} == {"/etc/network/interfaces"}
    fix(capsys, guest)
    assert read(guest, unit) == "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
    assert net_findings(capsys, guest) == (0, [])


def test_regenerated_grub_cfg_must_carry_the_kernel_args():
    from imsprep.fix.actions import RegenerateGrub

    action = RegenerateGrub("/boot/grub/grub.cfg", "grub-mkconfig", "", "", "adds net.ifnames=0", ["net.ifnames=0"], by_uuid=False)
    good = "menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=/dev/xvda1 ro quiet net.ifnames=0\n}\n"
    assert action.accepts(good)
    assert not action.accepts(good.replace(" net.ifnames=0", ""))
    assert not RegenerateGrub("/boot/grub/grub.cfg", "grub-mkconfig", "", "", kernel_args=["net.ifnames=0"]).accepts(good)


def test_bls_entries_and_rhel_default_grub(tmp_path, capsys):
    """RHEL 8: BLS entries (options $kernelopts ...) and GRUB_CMDLINE_LINUX with other arguments."""
    guest, kver = debian_guest(tmp_path / "g")
    guest.write("/etc/default/grub", 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="crashkernel=auto resume=UUID=0b9f1d2e-5b52-4f4a-9a5e-'
                '3d1c8d1c2a11 rhgb quiet"\nGRUB_DISABLE_RECOVERY="true"\nGRUB_ENABLE_BLSCFG=true\n')
    entry = "/boot/loader/entries/3f5e-%s.conf" % kver
    guest.write(entry, "title Red Hat Enterprise Linux (%s) 8.8 (Ootpa)\nversion %s\nlinux /vmlinuz-%s\ninitrd /initramfs-%s.img "
                "$tuned_initrd\noptions root=UUID=0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11 ro crashkernel=auto rhgb quiet\nid 3f5e-%s\n"
                % (kver, kver, kver, kver, kver))
    guest.write("/etc/sysconfig/network-scripts/ifcfg-ens3", "TYPE=Ethernet\nBOOTPROTO=dhcp\nNAME=ens3\nDEVICE=ens3\nONBOOT=yes\n")
    _, found = net_findings(capsys, guest)
    assert [(f["code"], f["line"]) for f in found] == [("NET_NAME_BOUND", 4)]
    fix(capsys, guest)
    assert 'GRUB_CMDLINE_LINUX="crashkernel=auto resume=UUID=0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11 rhgb quiet net.ifnames=0"' \
        in read(guest, "/etc/default/grub")
    assert "\noptions root=UUID=0b9f1d2e-5b52-4f4a-9a5e-3d1c8d1c2a11 ro crashkernel=auto rhgb quiet net.ifnames=0\n" in read(guest, entry)
    assert read(guest, "/etc/sysconfig/network-scripts/ifcfg-eth0") == \
        "TYPE=Ethernet\nBOOTPROTO=dhcp\nNAME=eth0\nDEVICE=eth0\nONBOOT=yes\n"
    assert net_findings(capsys, guest)[1] == []  # (the entry's initramfs is not in this tree: rc says nothing here)


def test_ifupdown_vlan_follows_its_nic(tmp_path, capsys):
    text = ("auto enX0\niface enX0 inet dhcp\n\nauto enX0.100\niface enX0.100 inet static\n    address 192.0.2.10/24\n"
            "    vlan-raw-device enX0\n")
    guest = guest_with(tmp_path, {"/etc/network/interfaces": text})
    _, found = net_findings(capsys, guest)
    assert [(f["code"], f["line"]) for f in found] == [("NET_NAME_BOUND", 1), ("NET_NAME_BOUND", 2), ("NET_STATIC_ADDRESS", 5)]
    fix(capsys, guest)
    new = read(guest, "/etc/network/interfaces")
    assert new == "auto eth0\niface eth0 inet dhcp\n\nauto eth0.100\niface eth0.100 inet dhcp\n    vlan-raw-device eth0\n"
    assert net_findings(capsys, guest) == (0, [])


def test_kernel_args_go_where_grub_d_sets_the_command_line(tmp_path, capsys):
    """Debian's cloud images set GRUB_CMDLINE_LINUX in /etc/default/grub.d/*.cfg, which grub-mkconfig
    reads after /etc/default/grub: net.ifnames=0 must go there to survive the next update-grub."""
    cloud = "/etc/default/grub.d/10_cloud.cfg"
    guest = guest_with(tmp_path, {"/etc/network/interfaces": IFUPDOWN_XEN,
                                  cloud: 'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"\n'
                                         'GRUB_TERMINAL="console serial"\n'})
    fix(capsys, guest)
    assert read(guest, "/etc/default/grub") == DEFAULT_GRUB
    assert read(guest, cloud).startswith('GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 '
                                         'consoleblank=0 net.ifnames=0"\n')
    assert net_findings(capsys, guest) == (0, [])
    # a grub.d file that extends the variable keeps what /etc/default/grub says, and only that
    guest.write(cloud, 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0"\n')
    assert len(net_findings(capsys, guest)[1]) == 3
    guest.write("/etc/default/grub", DEFAULT_GRUB.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="net.ifnames=0"'))
    assert net_findings(capsys, guest) == (0, [])


NETPLAN_GENERATE = "/usr/libexec/netplan/generate"  # netplan.io (tests/setup-deps.sh)


def netplan_networkd(guest, tmp_path, name):
    """What netplan itself makes of the guest's /etc/netplan: its generator, run on a copy."""
    import shutil
    import subprocess

    out = tmp_path / name
    shutil.copytree(guest.path("/etc/netplan"), str(out / "etc" / "netplan"))
    proc = subprocess.run([NETPLAN_GENERATE, "--root-dir", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    units = {}
    for directory, _, files in os.walk(str(out / "run")):
        for unit in files:
            if not os.path.islink(os.path.join(directory, unit)):
                with open(os.path.join(directory, unit)) as fh:
                    units[unit] = fh.read()
    return units


def test_netplan_rewrite_is_what_netplan_itself_accepts(tmp_path, capsys):
    """netplan's own generator turns the rewritten files into networkd units matching every wired NIC."""
    import pytest

    if not os.access(NETPLAN_GENERATE, os.X_OK):
        pytest.skip("netplan.io is not installed (tests/setup-deps.sh installs it)")
    guest = guest_with(tmp_path, {"/etc/netplan/00-installer-config.yaml": NETPLAN_KVM,
                                  "/etc/netplan/50-cloud-init.yaml": NETPLAN_CLOUDINIT})
    before = netplan_networkd(guest, tmp_path, "before")
    assert "MACAddress=fa:16:3e:5d:2b:19" in before["10-netplan-ens3.network"]
    assert any('NAME="ens3"' in text for text in before.values())  # set-name: a udev rename by MAC
    fix(capsys, guest)
    after = netplan_networkd(guest, tmp_path, "after")
    network = after["10-netplan-ens3.network"]
    assert network.startswith("[Match]\nName=e*\n\n[Network]\nDHCP=ipv4\n"), network
    assert not [unit for unit, text in after.items() if "fa:16:3e:5d:2b:19" in text or 'NAME="' in text]


NETWORK_CONFIG = ("/etc/network", "/etc/systemd/network", "/etc/netplan", "/etc/NetworkManager", "/etc/sysconfig/network-scripts",
                  "/etc/udev/rules.d", "/lib/udev/rules.d", "/usr/lib/udev/rules.d")


def test_network_plan_comes_from_the_gathered_facts(tmp_path):
    """fix plans the network from what check gathered (also how each file reads once net.ifnames=0
    goes on): while planning, the network configuration is not listed or read again, except each
    file the plan changes, read once for its diff and backup."""
    from imsprep.facts import gather
    from imsprep.fix.plan import build_plan
    from imsprep.knowledge import Knowledge
    from imsprep.rules import assess
    from imsprep.system import System

    calls = []
    depth = [0]

    class Recording(System):
        """Records each call from outside System (not the calls System makes to itself) with its paths."""

        def __getattribute__(self, name):
            value = object.__getattribute__(self, name)
            if callable(value) and not name.startswith("_"):
                def record(*args, **kwargs):
                    if depth[0] == 0:
                        calls.extend((name, a) for a in args if isinstance(a, str) and a.startswith("/"))
                    depth[0] += 1
                    try:
                        return value(*args, **kwargs)
                    finally:
                        depth[0] -= 1
                return record
            return value

    unit = "/etc/systemd/network/80-dhcp.network"
    guest = guest_with(tmp_path, {"/etc/network/interfaces": IFUPDOWN_XEN, unit: "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n"})
    facts = gather(Recording(guest.root), Knowledge(), use_cache=False)
    assessment = assess(facts, ["kvm", "xen"])
    del calls[:]
    plan = build_plan(facts, assessment)
    edited = {a.path for a in plan.actions}
    assert {"/etc/network/interfaces", unit} <= edited  # the unit only needs it once net.ifnames=0 goes on
    network = [(name, path) for name, path in calls if path.startswith(NETWORK_CONFIG)]
    assert network, calls  # the recording works: the edited files are read for their diff
    assert all(name == "read_text" and path in edited for name, path in network), network
    assert len(network) == len(set(network)), network
