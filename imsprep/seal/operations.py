"""The seal operations, in the order they are applied. Paths come from checks/seal.json."""

import fnmatch
import os
import re
from typing import Any, Dict, List, Optional, Set, Tuple

from . import NOTE, REMOVE, REPLACE, RUN, TRUNCATE, Context, OpPlan, operation

STATE_DIR = "/var/lib/imsprep"


# ----------------------------------------------------------------------------- helpers
def user_homes(ctx: Context) -> List[str]:
    """root's home, /home/*, and every home in /etc/passwd (bounded; system paths skipped)."""
    system = ctx.system
    skip = set(ctx.kb["skip_homes"])
    limit = int(ctx.kb["max_users"])
    homes = ["/root"] + system.glob("/home/*")
    text = system.read_text("/etc/passwd") or ""
    for line in text.splitlines()[:limit]:
        fields = line.split(":")
        if len(fields) >= 6 and fields[5].startswith("/"):
            homes.append(fields[5])
    result: List[str] = []
    for home in homes:
        home = os.path.normpath(home)
        if home in skip or home in result or not system.is_dir(home):
            continue
        result.append(home)
    return result[:limit]


def cloud_init_present(ctx: Context) -> bool:
    section = ctx.kb["cloud_init"]
    return any(ctx.system.exists(p) for p in section["markers"]) or bool(ctx.system.which("cloud-init"))


def cloud_config_texts(ctx: Context) -> List[Tuple[str, str]]:
    paths = ["/etc/cloud/cloud.cfg"] + ctx.system.glob("/etc/cloud/cloud.cfg.d/*.cfg")
    return [(p, ctx.system.read_text(p) or "") for p in paths if ctx.system.is_file(p)]


def cloud_init_keygen(ctx: Context) -> Optional[str]:
    """cloud-init makes new host keys at an instance's first boot with its ``ssh`` module
    (cc_ssh: ssh_deletekeys, ssh_genkeytypes) unless disabled."""
    if not cloud_init_present(ctx):
        return None
    system = ctx.system
    if system.exists("/etc/cloud/cloud-init.disabled"):
        return None
    texts = cloud_config_texts(ctx)
    if not any(re.search(r"^\s*-\s*['\"]?ssh['\"]?\s*$", text, re.M) for _, text in texts):
        return None
    for _path, text in texts:
        if re.search(r"^\s*ssh_genkeytypes\s*:\s*\[\s*\]", text, re.M):
            return None
    return ("cloud-init's ssh module (listed in /etc/cloud/cloud.cfg) makes new host keys at the new instance's first "
            "boot, provided cloud-init finds a datasource there (NoCloud seed, the cloud's metadata)")


def unit_files(ctx: Context, names: List[str]) -> List[str]:
    section = ctx.kb["ssh_hostkeys"]
    found = []
    for directory in section["keygen_unit_dirs"]:
        for name in names:
            path = directory + "/" + name
            if ctx.system.is_file(path) and path not in found:
                found.append(path)
    return found


def keygen_mechanism(ctx: Context) -> Tuple[Optional[str], str]:
    """How the guest makes new SSH host keys at boot: (mechanism, evidence) or (None, why not)."""
    section = ctx.kb["ssh_hostkeys"]
    by_cloud_init = cloud_init_keygen(ctx)
    if by_cloud_init:
        return "cloud-init", by_cloud_init
    first_boot_only = []
    for unit in unit_files(ctx, section["keygen_units"]):
        if re.search(r"^\s*ConditionFirstBoot\s*=\s*(yes|true|1|on)\s*$", ctx.system.read_text(unit) or "", re.M | re.I):
            first_boot_only.append(unit)
            continue
        return "keygen-unit", "%s makes missing host keys before sshd starts" % unit
    if first_boot_only:
        return None, ("%s makes host keys only on a first boot (ConditionFirstBoot=yes), and an emptied machine-id does "
                      "not make a first boot (machine-id(5)); 'uninitialized' would, but would also start "
                      "systemd-firstboot's console prompts; no cloud-init ssh module was found" % first_boot_only[0])
    markers = section["keygen_markers"]
    candidates = unit_files(ctx, section["sshd_units"]) + [
        p for p in ("/etc/init.d/sshd", "/etc/init.d/ssh", "/etc/rc.d/init.d/sshd") if ctx.system.is_file(p)]
    for path in candidates:
        text = ctx.system.read_text(path) or ""
        for marker in markers:
            if marker in text:
                return "sshd-start", "%s runs %r, which makes missing host keys before sshd starts" % (path, marker.replace("\t", " "))
    debian_units = [p for p in section["debian_package_units"] if ctx.system.is_file(p)]
    if debian_units:
        return None, ("Debian's openssh-server does not make host keys at boot: %s only runs `sshd -t`, which fails "
                      "without keys, and the package's postinst makes them only when it is installed; no cloud-init "
                      "ssh module and no keygen unit were found" % debian_units[0])
    if candidates:
        return None, "no way to make new host keys at boot was found (%s has no keygen step, no cloud-init ssh module)" % candidates[0]
    return None, "no SSH server unit found"


# ----------------------------------------------------------------------------- operations
@operation("imsprep-state", "imsprep's own state: fix runs and their backups, lock, scratch, caches, logs (ends rollback)")
def imsprep_state(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["imsprep_state"]
    for tree in section["trees"]:
        ctx.entry(tree, plan)
    for path in section["files"]:
        if ctx.system.exists(path) or ctx.system.is_symlink(path):
            ctx.entry(path, plan)
    # reports, crash tracebacks, rotated logs: everything in the log directory but the seal's own log
    ctx.contents(section["log_dir"], plan, skip=section["log_dir_keep"])
    lock = section["lock"]
    if ctx.own_lock:
        plan.add(lock, NOTE, "this run's lock, removed last")
    elif ctx.system.exists(lock) or ctx.system.is_symlink(lock):
        plan.add(lock, REMOVE, "removed last")
    if any(i.path.endswith("/runs") for i in plan.items):
        plan.note("sealing ends rollback: the backups of every `imsprep fix` run are deleted")
    if not ctx.live and plan.items:
        plan.note("the initramfs listing cache of the machine running imsprep is outside the image and is kept")


@operation("cloud-init", "cloud-init's state and logs, as `cloud-init clean --logs`, so the new instance runs it as a first boot")
def cloud_init(ctx: Context, plan: OpPlan) -> None:
    if not cloud_init_present(ctx):
        plan.note("cloud-init is not installed")
        return
    section = ctx.kb["cloud_init"]
    directory = section["dir"]
    if ctx.live and ctx.system.which("cloud-init"):
        plan.add("", RUN, "the guest's own cloud-init removes what is listed below, then runs %s/*" % section["clean_d"],
                 argv=["cloud-init", "clean", "--logs"])
        for name in ctx.system.listdir(directory):
            if name not in section["keep"]:
                path = directory + "/" + name
                plan.add(path, NOTE, "removed by cloud-init clean")
        for log in section["logs"]:
            if ctx.system.exists(log):
                plan.add(log, NOTE, "removed by cloud-init clean")
                ctx.claimed.add(log)
    else:
        # offline: the same file operations as cloudinit/cmd/clean.py, without running guest code
        ctx.contents(directory, plan, "cloud-init state", skip=section["keep"])
        for log in section["logs"]:
            if ctx.system.exists(log) or ctx.system.is_symlink(log):
                plan.add(log, REMOVE, "cloud-init log")
        hooks = [p for p in ctx.system.glob(section["clean_d"] + "/*")
                 if ctx.system.is_file(p) and ctx.system.stat(p).st_mode & 0o111]
        if hooks:
            plan.note("offline, the hooks in %s are not run (they are guest code): %s" % (section["clean_d"], ", ".join(hooks)))
    hook = directory + "/scripts/per-instance/imsprep"
    if ctx.system.exists(hook):
        plan.note("%s (imsprep's first-boot hook) is cloud-init state and goes with it" % hook)


@operation("bash-history", "every user's shell (and REPL) histories: root, /home/*, homes from /etc/passwd")
def bash_history(ctx: Context, plan: OpPlan) -> None:
    for home in user_homes(ctx):
        for name in ctx.kb["history_files"]:
            path = home.rstrip("/") + "/" + name
            if ctx.regular_file(path):
                plan.add(path, REMOVE)


@operation("authorized-keys", "every user's ~/.ssh/authorized_keys, emptied (off by default: you may still need to log in)",
           default=False)
def authorized_keys(ctx: Context, plan: OpPlan) -> None:
    for home in user_homes(ctx):
        for name in ctx.kb["authorized_keys_files"]:
            path = home.rstrip("/") + "/" + name
            if ctx.has_content(path):
                plan.add(path, TRUNCATE)
    plan.note("the reference procedure asks for empty authorized_keys before capture; this is off by default because "
              "you may still need to log in (cloud-init installs the key pair of the new instance at its first boot)")


def rotated(name: str, patterns: List[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@operation("logfiles", "logs under /var/log emptied in place, rotated ones (*.1 *.gz *-YYYYMMDD) and the journal removed")
def logfiles(ctx: Context, plan: OpPlan) -> None:
    section: Dict[str, Any] = ctx.kb["logfiles"]
    system = ctx.system
    top = str(section["dir"])
    journal = str(section["journal_dir"])
    skip_dirs = [d.rstrip("/") + "/" for d in section["skip_dirs"]] + [journal + "/"]
    keep = set(section["keep"]) | set(section["binary_records"])
    patterns = list(section["rotated_patterns"])
    if system.is_symlink(top) or not system.is_dir(top):
        return
    for path in ctx.walk(top, int(section["max_files"])):
        if path in keep or any(path.startswith(d) for d in skip_dirs) or not ctx.regular_file(path):
            continue
        if rotated(os.path.basename(path), patterns):
            plan.add(path, REMOVE, "rotated")
        elif system.size(path) > 0:
            plan.add(path, TRUNCATE)
    if system.is_dir(journal) and not system.is_symlink(journal):
        files = [p for p in ctx.walk(journal) if ctx.regular_file(p)]
        journald_running = ctx.live and ctx.system.exists("/run/systemd/journal/socket")
        if journald_running and files:
            plan.add("", RUN, "journald closes its files and starts new ones", argv=["journalctl", "--rotate"])
            plan.add("", RUN, "removes every archived journal file", argv=["journalctl", "--vacuum-time=1s"])
            for path in files:
                plan.add(path, NOTE, "archived by --rotate, removed by --vacuum")
            plan.note("live: the journal files journald opens after --rotate stay (a few KiB of this shutdown)")
        else:
            for path in files:
                plan.add(path, REMOVE, "journal")
    plan.note("directories and the files services write to are kept (emptied, same owner and mode)")
    if ctx.live:
        plan.note("live: what services log between the seal and the power-off (the shutdown itself) stays in the image")


@operation("utmp", "login records: wtmp, btmp, lastlog, faillog emptied; wtmpdb/lastlog2 databases removed")
def utmp(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["utmp"]
    for path in section["common"]:
        if ctx.has_content(path):
            plan.add(path, TRUNCATE)
    for path in section["remove"]:
        if ctx.regular_file(path):
            plan.add(path, REMOVE)


@operation("machine-id", "/etc/machine-id emptied (systemd makes a new one at boot); D-Bus's own copy removed")
def machine_id(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["machine_id"]
    for path in section["empty"]:
        if ctx.has_content(path):
            plan.add(path, TRUNCATE, "emptied, not deleted: an empty file makes systemd generate a new id at boot")
    for path in section["remove_if_file"]:
        if ctx.regular_file(path):
            plan.add(path, REMOVE, "a copy, not a link to /etc/machine-id")
    if ctx.live and plan.items:
        plan.note("live: the running system keeps its id in memory until it powers off")


@operation("ssh-hostkeys", "SSH host keys, removed only when the guest makes new ones at boot (cloud-init, sshd-keygen)")
def ssh_hostkeys(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["ssh_hostkeys"]
    keys: List[str] = []
    for pattern in section["patterns"]:
        keys += [p for p in ctx.system.glob(pattern) if ctx.regular_file(p) and p not in keys]
    if not keys:
        plan.note("no SSH host keys")
        return
    mechanism, evidence = keygen_mechanism(ctx)
    if mechanism is None:
        for path in sorted(keys):
            plan.add(path, NOTE, "kept")
        plan.note("host keys kept: %s. Every instance of this image would share them; to renew them, enable "
                  "cloud-init's ssh module or run `ssh-keygen -A` at first boot" % evidence)
        return
    plan.note("removed because %s (mechanism: %s)" % (evidence, mechanism))
    for path in sorted(keys):
        plan.add(path, REMOVE)
    if ctx.live:
        plan.note("live: SSH sessions already open keep working (sshd is not stopped); new logins may fail until the "
                  "next boot, so power off right after sealing (--poweroff)")


@operation("dhcp-client-state", "DHCP client leases (dhclient, dhcpcd, NetworkManager, systemd-networkd, wicked)")
def dhcp_client_state(ctx: Context, plan: OpPlan) -> None:
    for pattern in ctx.family_paths(ctx.kb["dhcp_leases"]):
        for path in ctx.system.glob(pattern):
            ctx.entry(path, plan)
    if ctx.live and plan.items:
        plan.note("live: the running DHCP client keeps its lease in memory; the network stays up")
        if any("dhclient" in i.path for i in plan.items):
            # seen in a booted Debian 12 guest: ifdown's `dhclient -r` at power-off rewrites the file
            plan.note("live: dhclient writes its lease file again when it releases the lease at power-off; it then "
                      "holds no lease, only its DUID (default-duid), which the next boot's dhclient reuses for DHCPv6; "
                      "seal offline (--image) to leave none")


@operation("udev-persistent-net", "udev rules that pin NIC names to MAC addresses, and a report of their copies in each initramfs")
def udev_persistent_net(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["udev_persistent_net"]
    for path in section["rules"]:
        if ctx.regular_file(path) or ctx.system.is_symlink(path):
            plan.add(path, REMOVE)
    members = set(section["initramfs_members"])
    for image, found in initramfs_copies(ctx, section["initramfs_images"], members):
        plan.add(image, NOTE, "holds a copy of %s: rebuild it after sealing (update-initramfs -u -k all, or dracut -f "
                              "--regenerate-all), or the old names come back at boot" % ", ".join(sorted(found)))


def initramfs_copies(ctx: Context, patterns: List[str], members: Set[str]) -> List[Tuple[str, Set[str]]]:
    from ..errors import ParseError
    from ..facts.initramfs import InitramfsReader
    from ..facts.listing_cache import ListingCache

    images: List[str] = []
    for pattern in patterns:
        images += [p for p in ctx.system.glob(pattern) if ctx.regular_file(p) and p not in images]
    result = []
    cache = ListingCache()
    for image in images:
        files: Optional[Set[str]] = None
        if ctx.listings is not None and image in ctx.listings:
            files = ctx.listings[image]
        else:
            listing = cache.load(ctx.system.host_path(image), image)
            if listing is None:
                try:
                    with ctx.system.open_binary(image) as fh:
                        listing = InitramfsReader.on(ctx.system).list(fh, image)
                    cache.store(ctx.system.host_path(image), listing)
                except (ParseError, OSError):
                    continue
            files = listing.files
        found = {m for m in members if m in files or "/" + m in files}
        if found:
            result.append((image, found))
    return result


@operation("net-nmconn", "NetworkManager connection files pinned to a MAC address")
def net_nmconn(ctx: Context, plan: OpPlan) -> None:
    for pattern in ctx.kb["nm_connections"]:
        for path in ctx.system.glob(pattern):
            if not ctx.regular_file(path):
                continue
            text = ctx.system.read_text(path) or ""
            if re.search(r"^\s*(mac-address|cloned-mac-address)\s*=\s*\S", text, re.M):
                plan.add(path, REMOVE, "pinned to a MAC address")
    if plan.items:
        plan.note("NetworkManager configures a NIC without a connection file by DHCP (its automatic 'Wired connection')")


@operation("hostname", "/etc/hostname reset to 'localhost' (off by default: set it only when the cloud names the instance)",
           default=False)
def hostname(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["hostname"]
    path, placeholder = section["file"], section["placeholder"]
    current = (ctx.system.read_text(path) or "").strip() if ctx.regular_file(path) else ""
    if current and current != placeholder:
        plan.add(path, REPLACE, "was %r" % current, data=(placeholder + "\n").encode())
    managed = cloud_init_present(ctx) and not any(
        re.search(r"^\s*preserve_hostname\s*:\s*true", text, re.M | re.I) for _, text in cloud_config_texts(ctx))
    if managed:
        plan.note("cloud-init sets the new instance's hostname from its metadata at first boot")
    else:
        plan.note("nothing in the guest names a new instance (no cloud-init): DHCP may, else it stays %r" % placeholder)


@operation("package-manager-cache", "downloaded packages and caches of apt, yum, dnf, zypper (package lists kept)")
def package_manager_cache(ctx: Context, plan: OpPlan) -> None:
    section = ctx.kb["package_cache"]
    keep = section["keep_names"]
    for path in ctx.family_paths(section):
        if ctx.system.is_symlink(path):
            continue
        if ctx.system.is_dir(path):
            for found in ctx.walk(path):
                if os.path.basename(found) not in keep and (ctx.regular_file(found) or ctx.system.is_symlink(found)):
                    plan.add(found, REMOVE)
        elif ctx.regular_file(path):
            plan.add(path, REMOVE)


@operation("tmp-files", "everything in /tmp and /var/tmp")
def tmp_files(ctx: Context, plan: OpPlan) -> None:
    skip = ctx.kb["tmp_live_skip"] if ctx.live else []
    for directory in ctx.kb["tmp_dirs"]:
        ctx.contents(directory, plan, skip=skip)
    if ctx.live:
        plan.note("live: sockets and private directories of running services are kept (%s)" % ", ".join(skip))


@operation("crash-data", "crash dumps: /var/crash, systemd-coredump, ABRT, kdump")
def crash_data(ctx: Context, plan: OpPlan) -> None:
    for directory in ctx.kb["crash_dirs"]:
        ctx.contents(directory, plan)


@operation("random-seed", "the saved random seed, so instances do not start from the same one")
def random_seed(ctx: Context, plan: OpPlan) -> None:
    for path in ctx.kb["random_seed"]:
        if ctx.regular_file(path):
            plan.add(path, REMOVE)
    if ctx.live and plan.items:
        plan.note("live: systemd-random-seed saves a fresh seed at shutdown; that one is new, not the old one")
