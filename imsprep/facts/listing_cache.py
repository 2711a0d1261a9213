"""A cache of initramfs listings, so a second check does not decompress unchanged images again.

Kept on the machine imsprep runs on, in /var/cache/imsprep/initramfs-1/, one JSON file per image,
keyed on the image's real path, size, mtime, inode and device: any rebuild or replacement changes
the key. Only listings read natively are cached. A cache that cannot be read or written (not
root, read-only filesystem) is skipped silently: it only saves time."""

import hashlib
import json
import os
from typing import Optional

from ..system import System
from .initramfs import Listing

CACHE_DIR = "/var/cache/imsprep/initramfs-1"
MAX_ENTRIES = 256


class ListingCache:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.host = System("/")
        self.hits = 0

    @staticmethod
    def key(host_path: str) -> Optional[str]:
        try:
            st = os.stat(host_path)
        except OSError:
            return None
        raw = "%s|%d|%d|%d|%d" % (os.path.realpath(host_path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
        return hashlib.sha256(raw.encode()).hexdigest()

    def load(self, host_path: str, guest_path: str) -> Optional[Listing]:
        key = self.key(host_path) if self.enabled else None
        if key is None:
            return None
        text = self.host.read_text("%s/%s.json" % (CACHE_DIR, key))
        if not text:
            return None
        try:
            data = json.loads(text)
            listing = Listing(guest_path)
            listing.files = set(data["files"])
            listing.segments = [(int(o), str(k)) for o, k in data["segments"]]
            listing.warnings = list(data["warnings"])
        except (ValueError, KeyError, TypeError):
            return None
        self.hits += 1
        return listing

    def store(self, host_path: str, listing: Listing) -> None:
        key = self.key(host_path) if self.enabled else None
        if key is None or listing.method != "native":
            return
        data = {"files": sorted(listing.files), "segments": listing.segments, "warnings": listing.warnings}
        try:
            self.host.makedirs(CACHE_DIR, mode=0o700)
            self.host.write_atomic("%s/%s.json" % (CACHE_DIR, key), json.dumps(data).encode(), mode=0o600)
            entries = self.host.glob(CACHE_DIR + "/*.json")
            if len(entries) > MAX_ENTRIES:  # drop the least recently written
                for old in sorted(entries, key=lambda p: self.host.stat(p).st_mtime)[: len(entries) - MAX_ENTRIES]:
                    self.host.unlink(old)
        except OSError:
            pass
