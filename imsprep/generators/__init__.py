"""Initramfs generators as strategies: one module per generator in this package, each a subclass of
:class:`~imsprep.generators.base.InitramfsGenerator` registered under the name its entry has in
``checks/generators.json``. Facts, rules and fix ask the registry; none of them branches on a name.

Adding a generator: a module here (its class registered with ``@register``), its entry in
checks/generators.json, and a fixture test (see README, "Adding a generator / package manager")."""

from typing import Dict, List, Optional, Set

from ..knowledge import Knowledge
from ..plugins import import_all
from .base import REGISTRY, InitramfsGenerator, register

__all__ = ["InitramfsGenerator", "register", "lookup", "all_generators", "names", "generator_programs"]


import_all(__name__, __path__)


def generator_programs() -> Set[str]:
    """Every program a generator strategy runs to build an image."""
    return {program for cls in REGISTRY.values() for program in cls.build_programs}


def names() -> List[str]:
    """The registered generator names (each must have an entry in checks/generators.json)."""
    return sorted(REGISTRY)


def _instances(knowledge: Knowledge) -> Dict[str, InitramfsGenerator]:
    """Strategies hold only their knowledge-base entry (no System): rules may use them."""
    return {name: REGISTRY[name](name, spec) for name, spec in knowledge.generators.items()}


def all_generators(knowledge: Knowledge) -> List[InitramfsGenerator]:
    """Every generator the knowledge base describes, in its order."""
    return list(_instances(knowledge).values())


def lookup(knowledge: Knowledge, name: Optional[str]) -> Optional[InitramfsGenerator]:
    """The strategy of generator ``name`` (None for None: no generator installed)."""
    if name is None:
        return None
    spec = knowledge.generators.get(name)
    return None if spec is None else REGISTRY[name](name, spec)
