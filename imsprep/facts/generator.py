"""Which initramfs generator the guest has, and what its configuration says about drivers. How each
generator is recognised and how its configuration reads is its strategy's (imsprep/generators/)."""

from .. import generators
from ..generators.base import GeneratorInfo, parse_shell_assignments
from ..knowledge import Knowledge
from ..system import System
from .distro_info import DistroInfo

__all__ = ["GeneratorInfo", "parse_shell_assignments", "read_generator"]


def read_generator(system: System, knowledge: Knowledge, distro: DistroInfo) -> GeneratorInfo:
    info = GeneratorInfo()
    strategies = generators.all_generators(knowledge)
    info.installed = [g.name for g in strategies if g.installed(system, distro.family)]
    preference = knowledge.distros["generator_preference"].get(distro.family, [g.name for g in strategies])
    for name in preference + info.installed:
        if name in info.installed:
            info.active = name
            break
    active = generators.lookup(knowledge, info.active)
    if active is not None:
        active.read_config(system, info)
    return info
