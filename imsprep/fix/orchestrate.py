"""The fix and rollback commands as a sequence of steps, without the command line: the CLI parses
the arguments, calls :func:`fix` or :func:`rollback_last` with callbacks that show and confirm,
and prints what they return.

``fix``: gather, assess, plan, show, confirm, check space and paths, apply; PV suites first (the
reference procedure), then the plan is computed again on what they left; then check again.
``rollback_last``: what the last run changed (from its journal), show, confirm, roll back."""

from typing import Callable, Dict, List, Optional, Tuple

from .. import report
from ..facts import Facts, gather
from ..i18n import N_
from ..knowledge import Knowledge
from ..rules import Assessment, assess
from ..system import System
from . import undo
from .journal import Journal, Lock
from .plan import Plan, build_plan
from .runner import Outcome, RollbackResult, apply_plan, check_free_space, finish_run, rollback, start_run, validate_plan

FIX_SCHEMA = "imsprep-fix/1"
ROLLBACK_SCHEMA = "imsprep-rollback/1"
ROLLBACK_SCHEMA_VERSION = 1

ShowPlan = Callable[[Plan, Optional[str]], None]  # (plan, heading or None for the first plan)


class NoLock:
    """contextlib.nullcontext, which Python 3.6 lacks."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class FixRun:
    """What a fix did: the (last) plan, what was applied (None: nothing was), the facts and the
    assessment after it."""

    def __init__(self, plan: Plan, outcome: Optional[Outcome], facts: Facts, assessment: Assessment):
        self.plan = plan
        self.outcome = outcome
        self.facts = facts
        self.assessment = assessment
        self.report = report.build(assessment)

    @property
    def failed(self) -> bool:
        return bool(self.outcome and self.outcome.failed)

    def ready(self) -> bool:
        return self.assessment.all_ready and not self.failed

    def to_dict(self) -> Dict[str, object]:
        return {"schema": FIX_SCHEMA, "plan": self.plan.to_dict(), "applied": self.outcome.to_dict() if self.outcome else None,
                "report": self.report}


def _plan(system: System, knowledge: Knowledge, targets: List[str], ignore_suites: List[str]) -> Tuple[Facts, Assessment, Plan]:
    facts = gather(system, knowledge)
    assessment = assess(facts, targets)
    return facts, assessment, build_plan(facts, assessment, ignore_suites)


def fix(system: System, knowledge: Knowledge, targets: List[str], ignore_suites: List[str], dry_run: bool,
        show: ShowPlan, confirm: Callable[[Plan], None]) -> FixRun:
    """Plan, show, and (unless ``dry_run``, after ``confirm``, which raises to cancel) apply. A dry
    run is read-only, like check: it takes no lock and writes nothing."""
    with (NoLock() if dry_run else Lock(system, "fix")):
        facts, assessment, plan = _plan(system, knowledge, targets, ignore_suites)
        show(plan, None)
        if not plan.actions or dry_run:
            return FixRun(plan, None, facts, assessment)
        confirm(plan)
        check_free_space(system, plan)
        validate_plan(system, plan)
        journal = start_run(system)
        outcome = Outcome()
        try:
            suites = [a for a in plan.actions if a.kind == "remove-suite"]
            if suites and len(suites) < len(plan.actions):
                # the reference procedure: PV suites go first; what they leave decides the rest
                outcome.merge(apply_plan(system, plan.only(suites), journal))
                if not outcome.failed:
                    facts, assessment, plan = _plan(system, knowledge, targets, ignore_suites)
                    show(plan, N_("Plan after removing the PV suites:"))
                    check_free_space(system, plan)
                    validate_plan(system, plan)
                    outcome.merge(apply_plan(system, plan, journal))
            else:
                outcome.merge(apply_plan(system, plan, journal))
        finally:
            finish_run(journal, outcome)
        facts = gather(system, knowledge)
        return FixRun(plan, outcome, facts, assess(facts, targets))


class RollbackRun:
    """The last fix run as its journal tells it (what it changed, which packages it removed), and,
    once rolled back, the result. ``run_id`` None: there was nothing to roll back."""

    def __init__(self, journal: Optional[Journal], dry_run: bool):
        self.journal = journal
        self.run_id = journal.run_id if journal else None
        self.dry_run = dry_run
        self.changed: List[str] = []  # files to restore
        self.restored_earlier: List[str] = []  # restored by an earlier, partial rollback
        self.packages: List[Tuple[str, str]] = []  # (name, version) to reinstall
        self.result: Optional[RollbackResult] = None
        if journal is not None:
            entries = list(journal.entries())
            undo.handlers(journal, entries)  # an op this imsprep cannot undo: refused before it is shown
            done = {str(e["path"]) for e in entries if e.get("op") == "restored"}
            self.restored_earlier = sorted(done)
            self.changed = sorted({str(e["path"]) for e in entries if e.get("op") == "file"} - done)
            self.packages = [(str(p[0]), str(p[1])) for e in entries if e.get("op") == "packages-removed"
                             for p in e.get("packages", [])]

    @property
    def complete(self) -> bool:
        return self.result is None or self.result.complete

    def to_dict(self) -> Dict[str, object]:
        result = self.result
        return {
            "schema": ROLLBACK_SCHEMA,
            "schema_version": ROLLBACK_SCHEMA_VERSION,
            "run": self.run_id,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "restored_earlier": self.restored_earlier,
            "packages": [{"name": name, "version": version} for name, version in self.packages],
            "complete": self.complete,
            "done": result.done if result else [],
            "kept": result.refused if result else [],
            "diffs": result.diffs if result else [],
            "failed": result.failed if result else [],
            "given_up": result.given_up if result else [],
        }


def rollback_last(system: System, force: bool, dry_run: bool, show: Callable[[RollbackRun], None],
                  confirm: Callable[[RollbackRun], None]) -> RollbackRun:
    """Roll back the last fix run: ``show`` what it changed, then (a dry run: only say what would
    happen) ``confirm`` (which raises to cancel) and restore."""
    with Lock(system, "rollback"):
        run = RollbackRun(Journal.last(system), dry_run)
        if run.journal is None:
            return run
        show(run)
        if not dry_run:
            confirm(run)
        run.result = rollback(system, run.journal, force=force, dry_run=dry_run)
        return run
