"""Native, streaming initramfs reader.

An initramfs is one or more cpio archives (``newc``/``crc`` format), each optionally compressed,
simply concatenated: typically an uncompressed early-microcode archive followed by the compressed
main archive (dracut, initramfs-tools). The kernel skips zero padding between them. We do the same
and list every path without extracting anything and without holding the image in memory.

gzip, xz, lzma and bzip2 are decompressed by the standard library; zstd and lz4 (the kernel's
legacy frame) by the ``zstandard`` and ``lz4`` modules when they are installed (optional, the
``fast`` extra), else by the ``zstd``/``lz4`` tools, as lzop always is. Those tools run on the
machine imsprep runs on (for a guest image the host's tools, never the guest's), through the
system layer.
"""

import bz2
import lzma
import os
import tempfile
import zlib
from typing import IO, Callable, Dict, List, Optional, Set, Tuple

from ..errors import ParseError
from ..system import System
from .kmod import module_name_of_path

CPIO_MAGICS = (b"070701", b"070702")
CPIO_HEADER = 110
MAX_NAME = 4096
CHUNK = 1 << 20

# (magic bytes, name). Order matters: longer, more specific magics first.
COMPRESSION_MAGICS: List[Tuple[bytes, str]] = [
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x89LZO\x00\r\n\x1a\n", "lzop"),
    (b"\x1f\x8b", "gzip"),
    (b"\x1f\x9e", "gzip"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
]
EXTERNAL_TOOLS = {"zstd": ["zstd", "-dcq"], "lz4": ["lz4", "-dc"], "lzop": ["lzop", "-dc"]}


def detect_compression(head: bytes) -> Optional[str]:
    """``cpio`` for an uncompressed archive, a compression name, or None."""
    if head[:6] in CPIO_MAGICS:
        return "cpio"
    for magic, name in COMPRESSION_MAGICS:
        if head.startswith(magic):
            return name
    return None


class Listing:
    """What an initramfs holds: its paths, the modules among them, the kernel versions."""

    def __init__(self, path: str):
        self.path = path
        self.files: Set[str] = set()
        self.segments: List[Tuple[int, str]] = []  # (offset in file, compression)
        self.warnings: List[str] = []
        self.method = "native"
        self._modules: Optional[Tuple[int, Dict[str, str]]] = None

    @property
    def modules(self) -> Dict[str, str]:
        """Normalised module name -> path inside the image (computed once the image is read)."""
        if self._modules is None or self._modules[0] != len(self.files):
            found: Dict[str, str] = {}
            for path in sorted(self.files):
                name = module_name_of_path(path)
                if name and "/modules/" in "/" + path:
                    found.setdefault(name, path)
            self._modules = (len(self.files), found)
        return self._modules[1]

    def modules_for(self, kver: str, strict: bool = False) -> Set[str]:
        """Modules of kernel ``kver`` (under its ``lib/modules/<kver>``). An image with no
        per-kernel module tree at all counts every module, unless ``strict``."""
        loose = not strict and not self.kernel_versions
        found = set()
        for path in self.files:
            name = module_name_of_path(path)
            if name and (loose or kver in path.split("/")):
                found.add(name)
        return found

    @property
    def kernel_versions(self) -> Set[str]:
        """The ``<kver>`` directories under (usr/)lib/modules that hold modules."""
        kvers = set()
        for path in self.modules.values():
            parts = path.lstrip("./").split("/")
            for index, part in enumerate(parts[:-1]):
                if part == "modules" and index > 0 and parts[index - 1] == "lib" and index + 1 < len(parts) - 1:
                    kvers.add(parts[index + 1])
                    break
        return kvers


# ----------------------------------------------------------------------------- byte sources
class _Source:
    """A forward-only byte stream with exact reads."""

    def read(self, size: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def read_exact(self, size: int, what: str) -> bytes:
        data = self.read(size)
        if len(data) != size:
            raise ParseError("truncated %s (wanted %d bytes, got %d)" % (what, size, len(data)))
        return data

    def skip(self, size: int, what: str) -> None:
        while size > 0:
            got = len(self.read(min(size, CHUNK)))
            if got == 0:
                raise ParseError("truncated %s (%d bytes missing)" % (what, size))
            size -= got

    def skip_zeros(self) -> bytes:
        """Skip NUL padding; return the first non-zero bytes read (b'' at the end)."""
        while True:
            block = self.read(512)
            if not block:
                return b""
            stripped = block.lstrip(b"\x00")
            if stripped:
                return stripped


class _Pushback(_Source):
    def __init__(self, inner: _Source, pending: bytes = b""):
        self.inner = inner
        self.pending = pending

    def push(self, data: bytes) -> None:
        self.pending = data + self.pending

    def read(self, size: int) -> bytes:
        out = b""
        if self.pending:
            out, self.pending = self.pending[:size], self.pending[size:]
        while len(out) < size:
            data = self.inner.read(size - len(out))
            if not data:
                break
            out += data
        return out


class _FileSource(_Source):
    def __init__(self, fh: IO[bytes]):
        self.fh = fh

    def read(self, size: int) -> bytes:
        return self.fh.read(size)


class _DecompressSource(_Source):
    """Streams one compressed member out of ``fh``; knows where it ended. Decompressed data sits
    in a bytearray read through an offset: decoders hand out blocks of up to 8 MiB, and slicing
    them for every 110-byte header would copy them over and over."""

    def __init__(self, fh: IO[bytes], factory: Callable[[], object], kind: str):
        self.fh = fh
        self.kind = kind
        self.obj = factory()
        self.buffer = bytearray()
        self.pos = 0
        self.done = False
        self.unused = b""

    def _fill(self, size: int) -> None:
        while len(self.buffer) - self.pos < size and not self.done:
            raw = self.fh.read(CHUNK // 4)
            try:
                if raw:
                    self.buffer += self.obj.decompress(raw)  # type: ignore[attr-defined]
                else:
                    flush = getattr(self.obj, "flush", None)
                    if flush is not None:
                        self.buffer += flush()
            except Exception as exc:  # noqa: BLE001 - any decoder's error means a corrupt stream
                raise ParseError("corrupt %s data: %s" % (self.kind, exc)) from None
            if getattr(self.obj, "eof", False):
                self.done = True
                self.unused = getattr(self.obj, "unused_data", b"")
            elif not raw:
                self.done = True
                if len(self.buffer) == self.pos:
                    raise ParseError("truncated %s stream" % self.kind)
        if self.pos > CHUNK and self.pos * 2 > len(self.buffer):
            del self.buffer[:self.pos]
            self.pos = 0

    def read(self, size: int) -> bytes:
        self._fill(size)
        end = min(self.pos + size, len(self.buffer))
        out = bytes(self.buffer[self.pos:end])
        self.pos = end
        return out

    def skip(self, size: int, what: str) -> None:
        while size > 0:
            self._fill(min(size, CHUNK))
            step = min(size, len(self.buffer) - self.pos)
            if step == 0:
                raise ParseError("truncated %s (%d bytes missing)" % (what, size))
            self.pos += step
            size -= step


LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"
LZ4_LEGACY_BLOCK = 8 << 20
LZ4_LEGACY_BOUND = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16


class _Lz4Legacy:
    """The kernel's legacy lz4 stream (``lz4 -l``): magic, then blocks of [le32 size][data],
    each at most 8 MiB decompressed; a repeated magic starts a new stream, a zero or impossible
    size ends it. python-lz4 decodes the blocks; it has no reader for this container."""

    def __init__(self, block_decompress: Callable[..., bytes]):
        self.block_decompress = block_decompress
        self.pending = b""
        self.started = False
        self.eof = False
        self.unused_data = b""

    def decompress(self, data: bytes) -> bytes:
        self.pending += data
        out = []
        while not self.eof:
            if not self.started:
                if len(self.pending) < 4:
                    break
                if self.pending[:4] != LZ4_LEGACY_MAGIC:
                    raise ValueError("bad lz4 legacy magic")
                self.pending, self.started = self.pending[4:], True
            if len(self.pending) < 4:
                break
            if self.pending[:4] == LZ4_LEGACY_MAGIC:
                self.pending = self.pending[4:]
                continue
            size = int.from_bytes(self.pending[:4], "little")
            if size == 0 or size > LZ4_LEGACY_BOUND:
                self.eof, self.unused_data, self.pending = True, self.pending, b""
                break
            if len(self.pending) < 4 + size:
                break
            out.append(bytes(self.block_decompress(self.pending[4:4 + size], uncompressed_size=LZ4_LEGACY_BLOCK)))
            self.pending = self.pending[4 + size:]
        return b"".join(out)


def _python_decompressor(kind: str) -> Optional[Callable[[], object]]:
    """A streaming decompressor for ``kind`` in this process: the standard library for gzip,
    xz, lzma and bzip2; ``zstandard`` and ``lz4`` (optional, faster than the tools) when installed."""
    if kind == "gzip":
        return lambda: zlib.decompressobj(wbits=31)
    if kind in ("xz", "lzma"):
        return lambda: lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
    if kind == "bzip2":
        return bz2.BZ2Decompressor
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            return None

        def make_zstd() -> object:
            try:
                return zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
            except TypeError:  # zstandard < 0.21
                return zstandard.ZstdDecompressor().decompressobj()

        return make_zstd
    if kind == "lz4":
        try:
            import lz4.block
        except ImportError:
            return None
        return lambda: _Lz4Legacy(lz4.block.decompress)
    return None


# ----------------------------------------------------------------------------- cpio
def _parse_cpio(source: _Pushback, listing: Listing) -> None:
    """Parse consecutive cpio archives from ``source`` until it ends."""
    while True:
        head = source.skip_zeros()
        if not head:
            return
        source.push(head)
        header = source.read(CPIO_HEADER)
        if len(header) < 6:
            raise ParseError("%d stray bytes after the last archive" % len(header))
        if header[:6] not in CPIO_MAGICS:
            if detect_compression(header):
                raise ParseError("nested %s data inside a compressed segment" % detect_compression(header))
            raise ParseError("not a cpio newc header (magic %r)" % header[:6])
        if len(header) < CPIO_HEADER:
            raise ParseError("truncated cpio header")
        _parse_archive(header, source, listing)


def _parse_archive(header: bytes, source: _Source, listing: Listing) -> None:
    while True:
        try:
            fields = [int(header[6 + 8 * i: 14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise ParseError("cpio header with non-hex fields") from None
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        if namesize < 1 or namesize > MAX_NAME:
            raise ParseError("cpio entry name size %d out of range" % namesize)
        name_pad = (4 - (CPIO_HEADER + namesize) % 4) % 4
        raw_name = source.read_exact(namesize + name_pad, "cpio entry name")[:namesize]
        if not raw_name.endswith(b"\x00"):
            raise ParseError("cpio entry name without terminating NUL")
        name = raw_name[:-1].decode("utf-8", "replace")
        if name == "TRAILER!!!":
            return
        data_pad = (4 - filesize % 4) % 4
        source.skip(filesize + data_pad, "cpio data of %s" % name)
        if (mode & 0o170000) in (0o100000, 0o120000):  # regular files and symlinks
            listing.files.add(name[2:] if name.startswith("./") else name.lstrip("/"))
        header = source.read_exact(CPIO_HEADER, "cpio header")
        if header[:6] not in CPIO_MAGICS:
            raise ParseError("cpio header with bad magic %r" % header[:6])


# ----------------------------------------------------------------------------- images
class InitramfsReader:
    """Lists initramfs images. ``run_host`` runs a host tool writing stdout to a file
    (the system layer's ``run(..., in_guest=False, stdout_file=...)``)."""

    def __init__(self, run_host: Optional[Callable[..., object]] = None, tmpdir: Optional[str] = None):
        self.run_host = run_host
        self.tmpdir = tmpdir

    @classmethod
    def on(cls, system: "System") -> "InitramfsReader":
        """A reader whose external decompressors run through ``system`` (a System), on the host."""
        run = system.run
        return cls(run_host=lambda argv, stdout_file=None: run(argv, in_guest=False, stdout_file=stdout_file))

    def list(self, fh: IO[bytes], path: str) -> Listing:
        """Read every segment of the image open in ``fh``. Raises ParseError when the image
        cannot be read at all; a damaged tail after readable archives becomes a warning."""
        listing = Listing(path)
        offset = 0
        fh.seek(0)
        if not fh.read(1):
            raise ParseError("empty file")
        while True:
            fh.seek(offset)
            head = _FileSource(fh).skip_zeros()
            if not head:
                break
            offset = fh.tell() - len(head)
            fh.seek(offset)
            head = fh.read(16)
            kind = detect_compression(head)
            fh.seek(offset)
            if kind is None:
                message = "unknown data at offset %d (magic %s)" % (offset, head[:6].hex())
                if not listing.segments:
                    raise ParseError("not an initramfs: " + message)
                listing.warnings.append(message + "; ignored")
                break
            listing.segments.append((offset, kind))
            try:
                following = self._read_segment(fh, offset, kind, listing)
            except ParseError as exc:
                # a damaged segment means an incomplete listing: never report what is in it as absent
                raise ParseError("segment %d (%s) at offset %d: %s (%d files read before)"
                                 % (len(listing.segments), kind, offset, exc, len(listing.files))) from None
            if following is None:
                break
            offset = following
        if not listing.files:
            raise ParseError("no files found in any archive")
        return listing

    def _read_segment(self, fh: IO[bytes], offset: int, kind: str, listing: Listing) -> Optional[int]:
        """Parse one segment; return the file offset where the next one may start."""
        if kind == "cpio":
            source = _Pushback(_FileSource(fh))
            header = source.read_exact(CPIO_HEADER, "cpio header")
            _parse_archive(header, source, listing)
            return fh.tell()
        factory = _python_decompressor(kind)
        if factory is not None:
            stream = _DecompressSource(fh, factory, kind)
            _parse_cpio(_Pushback(stream), listing)
            if not stream.done:
                return None
            return fh.tell() - len(stream.unused)
        self._read_external(fh, offset, kind, listing)
        return None  # the tool consumed the rest of the file

    def _read_external(self, fh: IO[bytes], offset: int, kind: str, listing: Listing) -> None:
        if self.run_host is None:
            raise ParseError("%s data needs the %s tool, which cannot be run here" % (kind, EXTERNAL_TOOLS[kind][0]))
        with tempfile.TemporaryDirectory(prefix="imsprep-", dir=self.tmpdir) as tmp:
            compressed = os.path.join(tmp, "segment")
            fh.seek(offset)
            with open(compressed, "wb") as out:
                while True:
                    block = fh.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
            decompressed = os.path.join(tmp, "cpio")
            with open(decompressed, "wb") as out:
                result = self.run_host(EXTERNAL_TOOLS[kind] + [compressed], stdout_file=out)
            rc = getattr(result, "rc", 1)
            if rc == 127:
                raise ParseError("%s data needs the %s tool, which is not installed" % (kind, EXTERNAL_TOOLS[kind][0]))
            size = os.path.getsize(decompressed)
            if size == 0:
                raise ParseError("%s failed (exit %s): %s" % (EXTERNAL_TOOLS[kind][0], rc, getattr(result, "stderr", "").strip()[:200]))
            with open(decompressed, "rb") as data:
                try:
                    _parse_cpio(_Pushback(_FileSource(data)), listing)
                except ParseError as exc:
                    if rc != 0:  # trailing padding makes some tools complain after good data
                        raise ParseError("%s (decompressor exit %s)" % (exc, rc)) from None
                    raise
            if rc != 0:
                listing.warnings.append("%s exited %s after the data was read" % (EXTERNAL_TOOLS[kind][0], rc))


def parse_lister_output(text: str, path: str, tool: str) -> Listing:
    """Turn ``lsinitrd``/``lsinitramfs`` output into a Listing (the fallback path).

    lsinitramfs prints one path per line; lsinitrd prints ``ls -l`` style lines whose last
    field is the path (symlinks: ``name -> target``)."""
    listing = Listing(path)
    listing.method = tool
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith(("Image:", "=====", "dracut", "Arguments:", "Version:", "early_cpio", "cat:")):
            continue
        if " -> " in line:
            line = line.split(" -> ", 1)[0]
        fields = line.split()
        if not fields:
            continue
        candidate = fields[-1] if len(fields) >= 6 and fields[0][:1] in "-dlcbps" else line.strip()
        listing.files.add(candidate.lstrip("./") if candidate.startswith("./") else candidate.lstrip("/"))
    return listing
