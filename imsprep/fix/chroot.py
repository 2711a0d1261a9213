"""Moved: guest commands under --root run in a bubblewrap sandbox (imsprep.fix.sandbox)."""

from .sandbox import guest_mounts, guest_sandbox  # noqa: F401
