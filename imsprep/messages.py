"""English patterns of the messages imsprep builds where it finds things (rules, fix plan, errors),
so that they can be shown in the reader's language (imsprep.i18n.translate_message) without
touching the code that builds them. ``%(name)s`` stands for any text, ``%(name)d`` for a number;
a text that is itself one of these messages (a remedy inside a remedy) is translated in turn.

When a message changes where it is built, change its pattern here (and the catalogue: pybabel
update, docs/i18n.md); a message without a pattern is shown in English."""

from .i18n import N_

# a wrapper around another message: tried before everything else
WRAPPERS = [
    N_("%(message)s (not the default boot kernel)"),
]

MESSAGES = [
    # rules/drivers.py
    N_("kernel %(kver)s is built for XEN PV only (%(symbol)s=y in %(config)s) and cannot boot on KVM"),
    N_("install the distro's standard kernel (not the -xen flavour) and make it the default boot entry"),
    N_("kernel %(kver)s has no %(driver)s driver (%(role)s): %(evidence)s"),
    N_("kernel %(kver)s has %(label)s drivers as modules but no initramfs (%(where)s)"),
    N_("initramfs %(path)s of kernel %(kver)s could not be read (%(error)s); whether it holds the %(label)s drivers is "
       "unknown, not absent"),
    N_("check the image with lsinitrd/lsinitramfs; rebuild it if it is damaged: %(command)s"),
    N_("initramfs %(path)s holds modules for %(kvers)s, not for kernel %(kver)s"),
    N_("initramfs %(path)s of kernel %(kver)s lacks %(label)s module(s): %(modules)s (needed for %(drivers)s)"),
    N_("initramfs %(path)s of kernel %(kver)s lacks %(label)s module(s): %(modules)s (needed for %(drivers)s); the NIC "
       "still works once the root filesystem is mounted (udev loads the module from there), but the reference procedure "
       "asks for it in the initramfs"),
    N_("kernel %(kver)s: the dependencies of %(drivers)s cannot be known (modules.dep %(error)s), so whether initramfs "
       "%(path)s holds everything they need is unknown; unknown is not ready"),
    N_("is missing"),
    N_("run depmod -a %(kver)s, then rebuild the initramfs (%(command)s); `imsprep fix` does both"),
    N_("the %(generator)s configuration omits %(modules)s (omit_drivers)"),
    N_("remove them from omit_drivers in %(files)s"),
    N_("the UVP PV driver moved the native modules into %(path)s: uninstall UVP VMTools (/etc/.uvp-monitor/uninstall), "
       "which restores them"),
    N_("install %(package)s for %(kver)s, or boot a kernel that has %(driver)s"),
    N_("kernel-modules (or kernel-modules-extra)"),
    N_("the distro's standard linux-image package"),
    N_("kernel-default (not kernel-xen)"),
    N_("the distro's standard kernel"),
    N_("install dracut or initramfs-tools, then build %(path)s"),
    N_("no initramfs generator (dracut, initramfs-tools, mkinitrd) is installed: install one, then build the initramfs "
       "of %(kver)s"),
    N_("rebuild it: %(command)s"),
    N_("%(config)s, then rebuild: %(command)s"),
    N_("modules.dep of kernel %(kver)s: %(error)s; module dependencies are unknown and an initramfs built now would "
       "miss modules"),
    N_("run: depmod -a %(kver)s"),
    N_("kernel %(kver)s has neither /boot/config-%(kver2)s nor modules.builtin; built-in drivers cannot be recognised"),
    # generators.py
    N_('add add_drivers+=" %(modules)s " to %(path)s'),
    N_("add %(modules)s to %(path)s, one per line"),
    N_("the modules"),
    N_("add %(modules)s to INITRD_MODULES in %(path)s"),
    # rules/system_rules.py
    N_("XEN names disks xvdX; on KVM the same disk is vdX"),
    N_("KVM (virtio-blk) names disks vdX; on XEN the same disk is xvdX"),
    N_("sdX exists only with emulated/SCSI disks; KVM uses vdX and XEN xvdX"),
    N_("hdX exists only with emulated IDE disks; KVM uses vdX and XEN xvdX"),
    N_("/dev/disk/by-id names carry the hypervisor's disk serial/bus"),
    N_("/dev/disk/by-path names carry the hypervisor's bus address"),
    N_("run %(program)s"),
    N_("remove the package(s) %(packages)s"),
    N_("%(first)s then %(second)s"),
    N_("remove its files and services"),
    N_("%(suite)s is installed (%(evidence)s): %(why)s"),
    N_("%(path)s:%(line)d blacklists %(module)s: '%(text)s'"),
    N_("%(path)s:%(line)d replaces the loading of %(module)s: '%(text)s'"),
    N_("%(path)s:%(line)d redirects %(module)s: '%(text)s'"),
    N_("delete that line from %(path)s (PV driver suites leave such rules behind)"),
    N_("mount point %(mountpoint)s"),
    N_("%(path)s:%(line)d names %(where)s by device name (%(device)s): %(why)s"),
    N_("use UUID=<uuid> (blkid %(device)s) instead of %(device2)s"),
    N_("use UUID=<uuid> (blkid %(device)s) instead of %(device2)s; regenerate grub.cfg with the distro's grub-mkconfig"),
    N_("no initramfs generator (dracut, initramfs-tools, SUSE mkinitrd) is installed; no initramfs can be rebuilt"),
    N_("install dracut (RHEL/SUSE family) or initramfs-tools (Debian family)"),
    N_("dracut builds host-only images (hostonly=%(hostonly)s), so a rebuild on a host without %(target)s devices "
       "drops %(modules)s"),
    N_("default on this distro"),
    N_("initramfs-tools MODULES=%(policy)s includes only %(what)s; %(modules)s are not listed in %(path)s"),
    N_("the running hardware's drivers"),
    N_("listed modules"),
    N_("INITRD_MODULES in %(path)s lacks %(modules)s"),
    N_("future initramfs rebuilds (kernel updates) may lose the %(target)s drivers: %(why)s"),
    N_("no installed kernel found on %(where)s (no kernel image in /boot with a /lib/modules directory)"),
    N_("no installed kernel found on %(where)s (no kernel image in /boot with a /lib/modules directory); this looks "
       "like a container"),
    N_("this machine"),
    N_("run imsprep on the server that will become the image, or on its mounted disk with --root DIR"),
    N_("no bootloader configuration found (looked for: %(loaders)s); every installed kernel is judged"),
    N_("the default boot entry %(title)s (%(source)s) loads %(kernel)s, which is not an installed kernel"),
    N_("regenerate the bootloader configuration or set a default entry that exists"),
    N_("%(path)s has modules but no kernel image in /boot; it is not bootable and was not judged"),
    N_("not running as root: could not read %(paths)s"),
    N_("run imsprep as root for a complete check"),
    N_("%(path)s is larger than %(size)d bytes (max_read_bytes): only its beginning was read, what follows was not "
       "checked"),
    N_("look at %(path)s: a configuration file that large is damaged or hostile; or raise max_read_bytes in "
       "/etc/imsprep/imsprep.conf"),
    N_("replace %(path)s with a regular file"),
    N_("running on %(hypervisor)s (%(evidence)s)"),
    N_("running on %(hypervisor)s (%(evidence)s): uninstall PV drivers first, then add both XEN and KVM drivers"),
    N_("running on %(hypervisor)s (%(evidence)s): KVM drivers are needed; XEN drivers keep the image usable on XEN"),
    N_("running on %(hypervisor)s (%(evidence)s): QEMU without KVM acceleration (TCG) gives the guest the same virtio "
       "devices as KVM"),
    N_("no evidence"),
    N_("pins NIC names to this machine's MAC addresses: the new instance's NIC gets another name"),
    N_("delete the file (imsprep fix does)"),
    N_("recreates persistent NIC names at every boot"),
    N_("mask it with an empty /etc/udev/rules.d/75-persistent-net-generator.rules (imsprep fix does)"),
    N_("a fixed address does not match the network of a new instance"),
    N_("configure the NIC for DHCP"),
    N_("the configuration is tied to this machine's MAC address"),
    N_("remove the MAC address from the NIC configuration"),
    N_("the new instance's NIC has another MAC address and bus path, so it keeps the name udev gives it and "
       "configuration that expects this name finds no NIC"),
    N_("remove the rule (imsprep fix does)"),
    N_("a Xen vif is enX0 (eth0 with older udev)"),
    N_("a virtio-net NIC is ens2, ens3 or enp1s0 by its slot"),
    N_("match every wired NIC: [Match] Name=en* eth* (imsprep fix does; DHCP stays)"),
    N_('match every wired NIC: match: name: "e*" instead of the name or MAC (imsprep fix does)'),
    N_("remove interface-name= so the profile applies to any ethernet NIC (imsprep fix does)"),
    N_("configure eth0 by DHCP and boot with net.ifnames=0, as cloud images do (imsprep fix does)"),
    N_("configure eth0 (DEVICE=eth0, ifcfg-eth0) by DHCP and boot with net.ifnames=0, as cloud images do (imsprep fix "
       "does)"),
    N_("match the NIC by a pattern every wired NIC matches (en* eth*)"),
    N_("bound to the interface name %(interface)s, which the NIC will not have: %(why)s"),
    N_("%(first)s; %(second)s"),
    N_("%(where)s (%(text)s): %(why)s"),
    N_("not sealed for capture: imsprep seal would still remove or empty %(count)d item(s) (%(what)s)"),
    N_("run `imsprep seal --dry-run` to see them, then `imsprep seal` as the last step before capture"),
    # facts: evidence shown in the report
    N_("offline image (--root): not running on any hypervisor"),
    N_("no EFI System Partition, EFI boot files or EFI bootloader package found"),
    N_("ARM guests always boot with UEFI"),
    N_("bootloader entry %(title)s (%(source)s:%(line)d)"),
    N_("standard name"),
    N_("not found"),
    N_("no 'hypervisor' cpu flag: bare metal"),
    N_("cpu flag 'hypervisor' set; vendor not identified"),
    N_("default is the saved entry from grubenv: %(spec)s"),
    # fix/plan.py, fix/actions.py, fix/stable_names.py
    N_("no initramfs generator (dracut, initramfs-tools, SUSE mkinitrd) is installed, so the initramfs of %(kernels)s "
       "cannot be built: install one (dracut on RHEL/SUSE, initramfs-tools on Debian/Ubuntu) and run imsprep fix again"),
    N_("MODULES=dep cannot work on a mounted image (it would describe this machine's disks): the images are built with "
       "MODULES=most; the guest's own setting is unchanged"),
    N_("prepare %(path)s (MODULES=most)"),
    N_("%(suite)s is left alone (ignore_suites in imsprep.conf)"),
    N_("%(suite)s is left alone: it does not affect %(targets)s"),
    N_("%(suite)s was found (%(evidence)s) but neither an uninstaller nor a package: remove it by hand"),
    N_("modprobe rules that block native drivers are disabled"),
    N_("delete %(path)s: %(why)s"),
    N_("regenerate %(path)s with %(generator)s (%(why)s); if it cannot run here, edit %(path2)s in place (the diff below)"),
    N_("run depmod for %(kver)s (modules.dep %(error)s)"),
    N_("is stale"),
    N_("rebuild %(image)s for kernel %(kver)s with %(generator)s (%(reasons)s)"),
    N_("lacks %(modules)s"),
    N_("remove %(suite)s: %(how)s"),
    N_("nothing to run"),
    N_("edit %(path)s: %(why)s"),
    N_("create %(path)s: %(why)s"),
    N_("initramfs-tools adds the XEN/KVM drivers to every initramfs"),
    N_("dracut adds the XEN/KVM drivers to every initramfs"),
    N_("mkinitrd adds the XEN/KVM drivers to every initrd"),
    N_("block devices by UUID (names differ between XEN and KVM)"),
    N_("kernelopts by UUID"),
    N_("root=/resume= by UUID"),
    N_("adds %(args)s"),
    N_("GRUB's kernel command line: %(what)s (regenerated below)"),
    N_("GRUB's kernel command line (set last here): adds %(args)s"),
    N_("%(what)s (no grub-mkconfig in the guest)"),
    N_("%(path)s:%(line)d: %(device)s stays: %(how)s"),
    N_("%(device)s is not mounted under %(root)s and the root file system is not on a disk of this machine, so its "
       "UUID is unknown"),
    N_("%(path)s:%(line)s: %(text)s is not rewritten automatically: use DHCP for the primary NIC"),
    N_("%(path)s:%(line)s: %(text)s is not rewritten automatically: use DHCP and no MAC match for the primary NIC"),
    N_("the NIC uses DHCP"),
    N_("the new initramfs lacks %(modules)s; the old initramfs is kept"),
    # progress of fix and rollback on stderr (fix/runner.py, heartbeat.py) and what each step did
    N_("- %(step)s"),
    N_("  %(detail)s"),
    N_("  ... %(stage)s: %(seconds)d s"),
    N_("journal: %(path)s"),
    N_("building the initramfs of %(kver)s with %(generator)s"),
    N_("removing %(suite)s"),
    N_("regenerating %(path)s"),
    N_("running depmod"),
    N_("stopping: the PV suite must go before native drivers are configured"),
    N_("created %(path)s"),
    N_("edited %(path)s"),
    N_("deleted %(path)s"),
    N_("regenerated %(path)s"),
    N_("edited %(path)s in place (%(generator)s: %(why)s)"),
    N_("depmod -a %(kver)s"),
    N_("rebuilt %(image)s (%(size)d bytes, verified %(count)d modules)"),
    N_("removed %(suite)s"),
    N_("prepared"),
    # errors (cli.py and others): one line after "imsprep: error:"
    N_("--root %(path)s: no such directory"),
    N_("refusing to change anything without --yes (there is no terminal to ask on)"),
    N_("cancelled; nothing was changed"),
    N_("--log-file %(path)s: %(error)s"),
    N_("Permission denied"),
    N_("No such file or directory"),
    N_("Read-only file system"),
    N_("No space left on device"),
]

# the command line (cli.py, seal/cli.py): help, descriptions, epilogs
HELP = [
    N_('Prepare a Linux guest so its image boots on both XEN and KVM hosts.'),
    N_('exit codes:\n  0  ready for every requested target\n  1  not ready for at least one requested target (rollback: '
       'something was not restored)\n  2  usage error or bad input (bad arguments, not root for fix/rollback, unreadable '
       'or\n     read-only root, ...): one line on stderr\n  3  internal error: one line on stderr naming the log file '
       'that holds the details'),
    N_('output format (default: text)'),
    N_('colour in text output (default: auto: on a terminal, unless NO_COLOR is set or TERM=dumb)'),
    N_('print only the result and errors (no progress)'),
    N_('more detail on stderr: -v steps, -vv every file probe and command, -vvv the sh library too'),
    N_('also write the full debug log to FILE'),
    N_('read-only readiness check (verdict per target)'),
    N_('make the guest boot on KVM and XEN (plan, confirm, apply, verify)'),
    N_('undo the last fix run (files, initramfs images, removed packages)'),
    N_('clean the guest for capture: histories, logs, identity, caches (one-way)'),
    N_('Check, without changing anything, whether this guest (or the guest tree under --root) will boot on KVM and XEN.'),
    N_('%(verb)s the guest mounted at DIR instead of the running system (default: /)'),
    N_('%(verb)s the guest on the whole-disk image DISK (raw or qcow2; attached, mounted as its fstab says, and detached again)'),
    N_('which hypervisor(s) the image must boot on (default: targets in imsprep.conf, else all)'),
    N_('read every initramfs again instead of using listings cached in /var/cache/imsprep'),
    N_("Compute a plan from the check's findings (remove PV driver suites, disable modprobe rules that block native "
       'drivers, configure the initramfs generator to keep the drivers, rebuild the initramfs of every kernel that needs '
       'it), show it with diffs, apply it after confirmation, and check again. Every change is backed up and journaled '
       'under /var/lib/imsprep; `imsprep rollback` undoes the last run.'),
    N_('hypervisor(s) to prepare for (default: targets in imsprep.conf, else all)'),
    N_('show the plan and the diffs, change nothing'),
    N_('apply without asking (required when there is no terminal)'),
    N_('Restore every file the last `imsprep fix` changed, from its journal under /var/lib/imsprep/runs, and reinstall '
       'the packages it removed from the package files it kept.'),
    N_('show what would be restored, change nothing'),
    N_('roll back without asking'),
    N_('also restore files changed since the fix (their later edits are lost), and give up on files whose backup is missing'),
    N_('Remove what ties the image to this machine and its history before it is captured: the\n'
       'reference procedure\'s last step ("clean logs and history, shut down, create the image"). Prints a\n'
       'plan (every file and what happens to it), asks, applies. Sealing is one-way: nothing is backed up\n'
       '(a copy of SSH keys or histories would defeat it); only the list of what was removed is written,\n'
       'to /var/log/imsprep/seal.log (emptied at the end) or to --log FILE outside the image. It also\n'
       "removes imsprep's own state, which ends `imsprep rollback`."),
    N_('exit codes:\n  0  sealed, nothing to seal, or a dry run\n  1  at least one item could not be removed or emptied '
       '(listed)\n  2  error or refusal (bad arguments, no --yes without a terminal, a fix run that can still be rolled '
       'back)'),
    N_('seal the guest mounted at DIR (default: /, live)'),
    N_('show the plan, change nothing'),
    N_("apply only these operations (may name off-by-default ones; 'defaults' stands for the default set)"),
    N_('do not apply these operations'),
    N_('seal even though the last `imsprep fix` run could still be rolled back (its backups are deleted)'),
    N_('power the live system off after sealing'),
    N_('write the list of what was removed to FILE (outside the image) instead of /var/log/imsprep/seal.log'),
    N_('list the operations, their defaults and descriptions'),
    N_("check"),
    N_("fix"),
    N_("roll back"),
]

# imsprep seal: the operations (seal/operations.py) and what cmd_seal says
SEAL = [
    N_("imsprep's own state: fix runs and their backups, lock, scratch, caches, logs (ends rollback)"),
    N_("cloud-init's state and logs, as `cloud-init clean --logs`, so the new instance runs it as a first boot"),
    N_("every user's shell (and REPL) histories: root, /home/*, homes from /etc/passwd"),
    N_("every user's ~/.ssh/authorized_keys, emptied (off by default: you may still need to log in)"),
    N_('logs under /var/log emptied in place, rotated ones (*.1 *.gz *-YYYYMMDD) and the journal removed'),
    N_('login records: wtmp, btmp, lastlog, faillog emptied; wtmpdb/lastlog2 databases removed'),
    N_("/etc/machine-id emptied (systemd makes a new one at boot); D-Bus's own copy removed"),
    N_('SSH host keys, removed only when the guest makes new ones at boot (cloud-init, sshd-keygen)'),
    N_('DHCP client leases (dhclient, dhcpcd, NetworkManager, systemd-networkd, wicked)'),
    N_('udev rules that pin NIC names to MAC addresses, and a report of their copies in each initramfs'),
    N_('NetworkManager connection files pinned to a MAC address'),
    N_("/etc/hostname reset to 'localhost' (off by default: set it only when the cloud names the instance)"),
    N_('downloaded packages and caches of apt, yum, dnf, zypper (package lists kept)'),
    N_('everything in /tmp and /var/tmp'),
    N_('crash dumps: /var/crash, systemd-coredump, ABRT, kdump'),
    N_('the saved random seed, so instances do not start from the same one'),
    # notes of the seal plan
    N_("sealing ends rollback: the backups of every `imsprep fix` run are deleted"),
    N_("the initramfs listing cache of the machine running imsprep is outside the image and is kept"),
    N_("cloud-init is not installed"),
    N_("offline, the hooks in %(dir)s are not run (they are guest code): %(hooks)s"),
    N_("%(hook)s (imsprep's first-boot hook) is cloud-init state and goes with it"),
    N_("the reference procedure asks for empty authorized_keys before capture; this is off by default because you may "
       "still need to log in (cloud-init installs the key pair of the new instance at its first boot)"),
    N_("live: the journal files journald opens after --rotate stay (a few KiB of this shutdown)"),
    N_("directories and the files services write to are kept (emptied, same owner and mode)"),
    N_("live: what services log between the seal and the power-off (the shutdown itself) stays in the image"),
    N_("live: the running system keeps its id in memory until it powers off"),
    N_("no SSH host keys"),
    N_("host keys kept: %(keys)s. Every instance of this image would share them; to renew them, enable cloud-init's ssh "
       "module or run `ssh-keygen -A` at first boot"),
    N_("removed because %(evidence)s (mechanism: %(mechanism)s)"),
    N_("live: SSH sessions already open keep working (sshd is not stopped); new logins may fail until the next boot, so "
       "power off right after sealing (--poweroff)"),
    N_("live: the running DHCP client keeps its lease in memory; the network stays up"),
    N_("NetworkManager configures a NIC without a connection file by DHCP (its automatic 'Wired connection')"),
    N_("cloud-init sets the new instance's hostname from its metadata at first boot"),
    N_("nothing in the guest names a new instance (no cloud-init): DHCP may, else it stays %(name)s"),
    N_("live: sockets and private directories of running services are kept (%(paths)s)"),
    N_("live: systemd-random-seed saves a fresh seed at shutdown; that one is new, not the old one"),
    # seal plan details and reasons (imsprep/seal/operations.py)
    N_("this run's lock, removed last"),
    N_('removed last'),
    N_("the guest's own cloud-init removes what is listed below, then runs %(dir)s/*"),
    N_('removed by cloud-init clean'),
    N_('cloud-init state'),
    N_('cloud-init log'),
    N_('rotated'),
    N_('journald closes its files and starts new ones'),
    N_('removes every archived journal file'),
    N_('archived by --rotate, removed by --vacuum'),
    N_('journal'),
    N_('emptied, not deleted: an empty file makes systemd generate a new id at boot'),
    N_('a copy, not a link to /etc/machine-id'),
    N_('kept'),
    N_('pinned to a MAC address'),
    N_('was %(value)s'),
    N_('holds a copy of %(files)s: rebuild it after sealing (update-initramfs -u -k all, or dracut -f '
       '--regenerate-all), or the old names come back at boot'),
    N_('no SSH server unit found'),
    N_('no way to make new host keys at boot was found (%(unit)s has no keygen step, no cloud-init ssh module)'),
    N_('%(unit)s makes missing host keys before sshd starts'),
    N_('%(path)s runs %(marker)s, which makes missing host keys before sshd starts'),
    N_("cloud-init's ssh module (listed in /etc/cloud/cloud.cfg) makes new host keys at the new instance's first boot, "
       "provided cloud-init finds a datasource there (NoCloud seed, the cloud's metadata)"),
    N_('live: dhclient writes its lease file again when it releases the lease at power-off; it then holds no lease, '
       "only its DUID (default-duid), which the next boot's dhclient reuses for DHCPv6; seal offline (--image) to "
       'leave none'),
    N_('cannot roll back: %(journal)s line %(line)s has an entry this imsprep does not know how to undo (op %(op)s); '
       'nothing was changed. Roll back with the imsprep version that made the run'),
    N_("--poweroff works only on the live system (under --root or --image, capture the image yourself)"),
    N_("--log %(path)s is a directory; name a file"),
    N_("fix run %(run)s could still be rolled back and sealing deletes its backups; pass --end-rollback to seal anyway "
       "(or `imsprep rollback` first, or --skip imsprep-state); nothing was changed"),
]
