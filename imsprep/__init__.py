"""imsprep: make a Linux guest image boot on both XEN and KVM hosts, and prove it."""

__version__ = "0.1.0"
