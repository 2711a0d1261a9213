#!/usr/bin/env python3
"""Coverage-guided fuzzing of every parser imsprep feeds with guest data (atheris, libFuzzer).

    pip install atheris && python3 bench/fuzz_atheris.py -runs=1000000

The first input byte picks the parser; the rest is its input. A ParseError is the expected answer
to bad input; any other exception, a hang or a crash is a bug and stops the run."""

import io
import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

with atheris.instrument_imports():
    from imsprep.errors import ParseError
    from imsprep.facts import bootloader, devices, generator, initramfs, kmod, network, pvsuites
    from imsprep.system import System


class MemorySystem(System):
    """Every file the parsers read holds the fuzz input."""

    def __init__(self, text: str):
        super().__init__("/")
        self.live = False
        self.text = text

    def read_text(self, path, default=None):
        return self.text

    def glob(self, pattern):
        return [pattern.replace("*", "x")]

    def is_file(self, path):
        return True

    def exists(self, path):
        return True


def one_input(data: bytes) -> None:
    if not data:
        return
    choice, body = data[0] % 9, data[1:]
    text = body.decode("utf-8", "replace")
    try:
        if choice == 0:
            initramfs.InitramfsReader().list(io.BytesIO(body), "fuzz.img")
        elif choice == 1:
            kmod.parse_kernel_config(text)
            kmod.parse_modules_builtin(text)
        elif choice == 2:
            dep = kmod.ModulesDep.parse(text)
            for name in list(dep.paths)[:5]:
                dep.closure(name)
        elif choice == 3:
            bootloader.parse_grub2(text, "grub.cfg")
        elif choice == 4:
            bootloader.parse_legacy(text, "menu.lst")
            bootloader.parse_extlinux(text, "extlinux.conf")
        elif choice == 5:
            generator.parse_shell_assignments(text)
            initramfs.parse_lister_output(text, "fuzz.img", "lsinitrd")
        elif choice == 6:
            devices.fstab_refs(MemorySystem(text))
            devices.crypttab_refs(MemorySystem(text))
        elif choice == 7:
            pvsuites.read_modprobe_rules(MemorySystem(text))
        else:
            network.read_network(MemorySystem(text))
    except ParseError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
