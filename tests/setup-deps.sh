#!/bin/sh
# Install everything the tests need on a fresh Debian machine (run as root), then build the
# cached real artifacts (kernel packages, debootstrapped guests, initramfs images).
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    python3 python3-venv python3-pip ca-certificates \
    python3-distro python3-psutil python3-jinja2 python3-sh util-linux \
    debootstrap kmod cpio gzip bzip2 xz-utils zstd lz4 lzop dpkg-dev \
    qemu-system-x86 qemu-utils e2fsprogs groff-base lintian shellcheck logrotate \
    debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools python3-build python3-shtab python3-babel git rpm rpmlint \
    cloud-image-utils \
    fdisk mtools dosfstools ovmf grub-pc-bin grub-efi-amd64-bin lvm2 bubblewrap netplan.io zsh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/python tests/guests.py
.venv/bin/python tests/disks.py
