"""Small guest trees for fast tests, assembled from real distro data in tests/data.

Kernel configs, modules.builtin, modules.dep and os-release files are real (see
tests/data/SOURCES.md). Module files are empty files at the real paths that modules.dep lists
(imsprep only looks at their names). Initramfs images are real cpio archives made by the host's
``cpio -o -H newc`` and compressed by the real compressor."""

import os
import shutil
import subprocess
import tempfile
from typing import Iterable, List, Optional

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DEBIAN_KVER = {
    "debian-11-bullseye-5.10.0-32-x86_64": "5.10.0-32-amd64",
    "debian-12-bookworm-6.1.0-50-x86_64": "6.1.0-50-amd64",
    "debian-13-trixie-6.12.117+deb13-x86_64": "6.12.117+deb13-amd64",
}
COMPRESSORS = {"gzip": ["gzip", "-9", "-n"], "xz": ["xz", "--check=crc32", "-T1"], "zstd": ["zstd", "-q", "-19"],
               "bzip2": ["bzip2"], "lzma": ["lzma"], "lz4": ["lz4", "-l", "-q"], "lzop": ["lzop", "-q"],
               "none": None}


def data(*parts: str) -> str:
    return os.path.join(DATA, *parts)


def make_cpio(files: Iterable[str], source_dir: Optional[str] = None) -> bytes:
    """A real newc archive (host ``cpio``) holding ``files`` (created empty unless present)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = source_dir or tmp
        names = []
        for name in files:
            path = os.path.join(src, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.exists(path):
                open(path, "wb").close()
            names.append(name)
        out = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=("\n".join(names) + "\n").encode(),
                             cwd=src, stdout=subprocess.PIPE, check=True)
        return out.stdout


def compress(data_bytes: bytes, kind: str) -> bytes:
    argv = COMPRESSORS[kind]
    if argv is None:
        return data_bytes
    return subprocess.run(argv + ["-c"], input=data_bytes, stdout=subprocess.PIPE, check=True).stdout


class FakeGuest:
    def __init__(self, root: str):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)

    def path(self, guest_path: str) -> str:
        return os.path.join(self.root, guest_path.lstrip("/"))

    def write(self, guest_path: str, content, mode: int = 0o644) -> str:
        path = self.path(guest_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content.encode() if isinstance(content, str) else content)
        os.chmod(path, mode)
        return path

    def symlink(self, guest_path: str, target: str) -> None:
        path = self.path(guest_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)

    def os_release(self, sample: str) -> "FakeGuest":
        source = data("os-release", sample)
        for dirpath, _, filenames in os.walk(source):
            for name in filenames:
                if name.startswith("_"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), source)
                os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
                shutil.copyfile(os.path.join(dirpath, name), self.path(rel))
        return self

    def executable(self, guest_path: str) -> None:
        self.write(guest_path, "#!/bin/sh\nexit 0\n", mode=0o755)

    def dpkg(self, packages: Iterable[tuple] = ()) -> None:
        stanzas = ["Package: %s\nStatus: install ok installed\nVersion: %s\n" % p for p in packages]
        self.write("/var/lib/dpkg/status", "\n".join(stanzas) or "")

    def kernel(self, data_name: str, kver: Optional[str] = None, with_dep: bool = True, with_builtin: bool = True,
               with_config: bool = True, suffix: str = ".ko", skip_modules: Iterable[str] = ()) -> str:
        """Install a kernel built from real data: config, modules.builtin, modules.dep, module files."""
        kver = kver or DEBIAN_KVER.get(data_name, "4.18.0-test.x86_64")
        moddir = "/lib/modules/%s" % kver
        self.write("/boot/vmlinuz-%s" % kver, b"\x00" * 16)
        config = data("kernel-configs", data_name + ".config")
        if with_config and os.path.exists(config):
            shutil.copyfile(config, self.path("/boot/config-%s" % kver))
        debian = data("debian-modules", data_name)
        os.makedirs(self.path(moddir), exist_ok=True)
        if os.path.isdir(debian):
            if with_builtin:
                shutil.copyfile(os.path.join(debian, "modules.builtin"), self.path(moddir + "/modules.builtin"))
            with open(os.path.join(debian, "modules.dep.filtered")) as fh:
                dep_text = fh.read()
            skip = {s.replace("-", "_") for s in skip_modules}
            lines = []
            for line in dep_text.splitlines():
                head = line.split(":", 1)[0]
                base = os.path.basename(head).split(".ko")[0].replace("-", "_")
                if base in skip:
                    continue
                lines.append(line.replace(".ko", suffix))
                for path in [head] + line.split(":", 1)[1].split():
                    if not os.path.exists(self.path(moddir + "/" + path.replace(".ko", suffix))):
                        self.write(moddir + "/" + path.replace(".ko", suffix), b"")
            if with_dep:
                self.write(moddir + "/modules.dep", "\n".join(lines) + "\n")
        return kver

    def module_paths(self, kver: str, names: Iterable[str]) -> List[str]:
        """Paths (inside an initramfs) of the named modules and nothing else."""
        wanted = {n.replace("-", "_") for n in names}
        found = []
        moddir = self.path("/lib/modules/%s" % kver)
        for dirpath, _, filenames in os.walk(moddir):
            for name in filenames:
                if name.split(".ko")[0].replace("-", "_") in wanted and ".ko" in name:
                    rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                    found.append("usr/" + rel if rel.startswith("lib/") else rel)
        return found

    def initramfs(self, kver: str, modules: Iterable[str], path: Optional[str] = None, kind: str = "gzip",
                  extra_files: Iterable[str] = (), early_cpio: bool = False) -> str:
        files = ["init", "usr/lib/modules/%s/modules.dep" % kver] + self.module_paths(kver, modules) + list(extra_files)
        image = compress(make_cpio(files), kind)
        if early_cpio:
            image = make_cpio(["kernel/x86/microcode/AuthenticAMD.bin"]) + image
        return self.write(path or "/boot/initrd.img-%s" % kver, image)


# modules dependencies of the KVM and XEN drivers in Debian 6.1 (see modules.dep.filtered)
KVM_MODULES_61 = ["virtio", "virtio_ring", "virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
                  "virtio_blk", "virtio_scsi", "virtio_net", "net_failover", "failover", "scsi_mod", "scsi_common"]
XEN_MODULES = ["xen_blkfront", "xen_netfront"]
