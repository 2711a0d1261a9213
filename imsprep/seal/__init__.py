"""`imsprep seal`: the reference procedure's last step (clean logs and history, shut down, capture).

Sealing is a list of *operations*, each a small registered unit (``operations.py``): a name, a
one-line description, a default (on/off) and a planner that returns the items it touches, every
one a guest path and what happens to it (truncate, remove, remove a tree, replace, run a
command) or a note. The plan is computed read-only (``check`` uses it for its SEAL_PENDING
finding); applying it goes through the ``System`` layer only and never follows a symlink: a
symlink is removed as a link, never through it. Sealing is one-way: nothing is backed up, only
the list of what was removed is logged."""

import fnmatch
import os
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

from ..errors import UserError
from ..knowledge import find_data_dir, load_checked
from ..system import System

TRUNCATE = "truncate"  # emptied in place: same inode, owner and mode (a service may hold it open)
REMOVE = "remove"  # a file or a symlink (the link itself)
REMOVE_TREE = "remove-tree"  # a directory and everything below it
REPLACE = "replace"  # new contents (hostname placeholder)
RUN = "run"  # a command of the guest (live only)
NOTE = "note"  # reported, nothing done

TREE_LISTED = 30  # files of a removed directory the plan names one by one (the log names every one)
VERBS = {TRUNCATE: "empty", REMOVE: "remove", REMOVE_TREE: "remove", REPLACE: "replace", RUN: "run", NOTE: "note"}


class Item:
    def __init__(self, path: str, action: str, detail: str = "", argv: Optional[List[str]] = None,
                 data: Optional[bytes] = None, files: int = 0, members: Optional[List[str]] = None):
        self.path = path
        self.action = action
        self.detail = detail
        self.argv = argv or []
        self.data = data
        self.files = files  # for a tree: how many files it holds
        self.members = members or []  # for a tree: the first of them

    @property
    def changes(self) -> bool:
        return self.action != NOTE

    def summary(self) -> str:
        if self.action == RUN:
            text = "run       %s" % " ".join(self.argv)
        elif self.action == NOTE:
            text = "note      %s" % self.path if self.path else "note"
        elif self.action == REMOVE_TREE:
            text = "remove    %s/ (directory, %d file(s))" % (self.path.rstrip("/"), self.files)
            more = self.files - len(self.members)
            text += "".join("\n                %s" % m for m in self.members)
            if more > 0:
                text += "\n                ... and %d more" % more
            return text + ("\n                (%s)" % self.detail if self.detail else "")
        else:
            text = "%-9s %s" % (VERBS[self.action], self.path)
        return text + ("  (%s)" % self.detail if self.detail else "")

    def to_dict(self) -> Dict[str, object]:
        return {"path": self.path, "action": self.action, "detail": self.detail, "argv": self.argv, "files": self.files}


class OpPlan:
    """What one operation would do on this guest."""

    def __init__(self, operation: "Operation"):
        self.operation = operation
        self.items: List[Item] = []
        self.notes: List[str] = []

    @property
    def changes(self) -> List[Item]:
        return [i for i in self.items if i.changes]

    def add(self, path: str, action: str, detail: str = "", **kwargs: object) -> None:
        self.items.append(Item(path, action, detail, **kwargs))  # type: ignore[arg-type]

    def note(self, text: str) -> None:
        self.notes.append(text)


class Operation:
    def __init__(self, name: str, description: str, default: bool, planner: Callable[["Context", OpPlan], None]):
        self.name = name
        self.description = description
        self.default = default
        self.planner = planner

    def plan(self, ctx: "Context") -> OpPlan:
        result = OpPlan(self)
        self.planner(ctx, result)
        # a path belongs to the first operation that claims it (cloud-init's logs are not also truncated)
        kept = []
        for item in result.items:
            if item.action in (RUN, NOTE) or item.path not in ctx.claimed:
                kept.append(item)
                if item.action not in (RUN, NOTE):
                    ctx.claimed.add(item.path)
        result.items = kept
        return result


REGISTRY: "OrderedDict[str, Operation]" = OrderedDict()


def operation(name: str, description: str, default: bool = True) -> Callable:
    """Register a planner as an operation (in registration order, which is the order applied)."""

    def register(planner: Callable[["Context", OpPlan], None]) -> Callable[["Context", OpPlan], None]:
        REGISTRY[name] = Operation(name, description, default, planner)
        return planner

    return register


def load_kb() -> Dict[str, Any]:
    return load_checked(find_data_dir("checks"), "seal.json")


class Context:
    """What every planner may use: the system, the seal knowledge, the distro family."""

    def __init__(self, system: System, kb: Optional[Dict[str, Any]] = None, family: Optional[str] = None,
                 listings: Optional[Dict[str, Set[str]]] = None):
        self.system = system
        self.kb = kb if kb is not None else load_kb()
        self.family = family if family is not None else detect_family(system)
        self.live = system.live
        # initramfs member lists already read (by check's facts), guest path -> files
        self.listings = listings
        self.claimed: Set[str] = set()
        self.own_lock = False  # set by `imsprep seal`, which holds /var/lib/imsprep/lock while it plans

    def family_paths(self, section: Dict[str, List[str]]) -> List[str]:
        """``common`` + the guest's family; every family when the family is unknown."""
        paths = list(section.get("common", []))
        if self.family in section:
            paths += section[self.family]
        elif self.family not in ("debian", "rhel", "suse"):
            for key, value in section.items():
                if key != "common" and not key.startswith("_") and isinstance(value, list):
                    paths += value
        return paths

    def walk(self, path: str, limit: int = 200000) -> List[str]:
        """Regular files (and symlinks) below ``path``, sorted, as clean guest paths."""
        return sorted("/" + p.lstrip("/") for p in self.system.walk_files(path, max_entries=limit))

    def regular_file(self, path: str) -> bool:
        """A regular file that is not a symlink (a symlink is never emptied through)."""
        return self.system.is_file(path) and not self.system.is_symlink(path)

    def has_content(self, path: str) -> bool:
        return self.regular_file(path) and self.system.size(path) > 0

    def entry(self, path: str, plan: OpPlan, detail: str = "", skip: Iterable[str] = ()) -> None:
        """Plan the removal of one directory entry (file, symlink or directory)."""
        system = self.system
        if any(fnmatch.fnmatchcase(os.path.basename(path), pattern) for pattern in skip):
            return
        if system.is_symlink(path) or (system.exists(path) and not system.is_dir(path)):
            plan.add(path, REMOVE, detail)
        elif system.is_dir(path):
            members = self.walk(path)
            plan.add(path, REMOVE_TREE, detail, files=len(members), members=members[:TREE_LISTED])

    def contents(self, directory: str, plan: OpPlan, detail: str = "", skip: Iterable[str] = ()) -> None:
        """Plan the removal of everything inside ``directory`` (the directory itself stays)."""
        if self.system.is_symlink(directory) or not self.system.is_dir(directory):
            return
        for name in self.system.listdir(directory):
            self.entry(directory.rstrip("/") + "/" + name, plan, detail, skip)


def detect_family(system: System) -> str:
    from ..facts.distro_info import read_distro
    from ..knowledge import Knowledge

    try:
        return read_distro(system, Knowledge()).family
    except Exception:  # an unreadable os-release must not stop a seal; every family's paths are tried
        return "unknown"


class SealPlan:
    def __init__(self, ctx: Context, selected: List[str]):
        self.ctx = ctx
        self.selected = selected
        self.ops: List[OpPlan] = []
        self.rollback_run: Optional[str] = None  # a fix run that could still be rolled back

    def active(self) -> List[OpPlan]:
        return [p for p in self.ops if p.operation.name in self.selected]

    def changes(self) -> List[Item]:
        return [i for p in self.active() for i in p.changes]

    def to_dict(self) -> Dict[str, object]:
        return {"selected": self.selected, "rollback_run": self.rollback_run,
                "operations": [{"name": p.operation.name, "default": p.operation.default,
                                "selected": p.operation.name in self.selected,
                                "items": [i.to_dict() for i in p.items], "notes": p.notes} for p in self.ops]}


def select(only: Optional[str], skip: Optional[str]) -> List[str]:
    """Operations to apply: the defaults, or ``--only`` (which may name off-by-default ones and
    the word ``defaults``), minus ``--skip``."""
    from . import operations  # noqa: F401  (registers the operations)

    names = list(REGISTRY)

    def parse(value: str, allow_defaults: bool) -> List[str]:
        wanted = [w.strip() for w in value.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in REGISTRY and not (allow_defaults and w == "defaults")]
        if unknown:
            raise UserError("unknown seal operation(s) %s (known: %s; see imsprep seal --list)"
                            % (", ".join(unknown), ", ".join(names)))
        return wanted

    if only:
        wanted = parse(only, True)
        chosen = [n for n in names if n in wanted or ("defaults" in wanted and REGISTRY[n].default)]
    else:
        chosen = [n for n in names if REGISTRY[n].default]
    if skip:
        dropped = parse(skip, False)
        chosen = [n for n in chosen if n not in dropped]
    return chosen


def build_plan(ctx: Context, selected: List[str]) -> SealPlan:
    from ..fix.journal import Journal
    from . import operations  # noqa: F401

    plan = SealPlan(ctx, selected)
    for op in REGISTRY.values():
        plan.ops.append(op.plan(ctx))
    last = Journal.last(ctx.system)
    plan.rollback_run = last.run_id if last is not None else None
    return plan


def pending(system: System, kb: Optional[Dict[str, Any]] = None, family: Optional[str] = None,
            listings: Optional[Dict[str, Set[str]]] = None) -> Dict[str, int]:
    """For check: how many items each default operation would still change (read-only)."""
    ctx = Context(system, kb, family, listings)
    plan = build_plan(ctx, select(None, None))
    return OrderedDict((p.operation.name, len(p.changes)) for p in plan.active() if p.changes)


def pending_for_facts(facts: "object") -> Dict[str, int]:
    """check's view: the seal's pending changes, reusing the facts' family and initramfs listings."""
    listings = {f.path: f.listing.files for f in facts.initramfs.values() if f.path and f.listing is not None}  # type: ignore[attr-defined]
    family = facts.distro.family  # type: ignore[attr-defined]
    return pending(facts.system, None, family, listings)  # type: ignore[attr-defined]
