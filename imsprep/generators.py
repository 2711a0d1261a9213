"""Where imsprep makes each initramfs generator keep the XEN/KVM drivers: the one place these file
names live, for fix (which writes them) and for the remedy texts of the rules (which name them)."""

from typing import List

DRACUT_DROPIN = "/etc/dracut.conf.d/90-imsprep.conf"
ITOOLS_MODULES = "/etc/initramfs-tools/modules"
SUSE_SYSCONFIG = "/etc/sysconfig/kernel"


def persist_remedy(generator: str, modules: List[str]) -> str:
    """What to add where so the generator puts ``modules`` into every image (what fix does)."""
    listed = " ".join(modules)
    if generator == "dracut":
        return 'add add_drivers+=" %s " to %s' % (listed, DRACUT_DROPIN)
    if generator == "initramfs-tools":
        return "add %s to %s, one per line" % (listed or "the modules", ITOOLS_MODULES)
    return "add %s to INITRD_MODULES in %s" % (listed, SUSE_SYSCONFIG)
