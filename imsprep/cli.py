"""Command line. Exit codes: 0 ready for every requested target, 1 not ready, 2 error."""

import argparse
import contextlib
import json
import logging
import os
import sys
from typing import List, Optional

from . import __version__, report, signals
from .config import Config
from .config import load as load_config
from .errors import ParseError, UserError
from .facts import gather
from .knowledge import Knowledge
from .rules import assess
from .system import System

EXIT_READY = 0
EXIT_NOT_READY = 1
EXIT_ERROR = 2

EPILOG = """exit codes:
  0  ready for every requested target
  1  not ready for at least one requested target
  2  error (bad arguments, unreadable root, ...)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imsprep",
        description="Prepare a Linux guest so its image boots on both XEN and KVM hosts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="imsprep " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser(
        "check", help="read-only readiness check (verdict per target)",
        description="Check, without changing anything, whether this guest (or the guest tree under --root) "
                    "will boot on KVM and XEN.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--root", default="/", metavar="DIR",
                       help="check the guest mounted at DIR instead of the running system (default: /)")
    check.add_argument("--target", choices=["kvm", "xen", "all"], default=None,
                       help="which hypervisor(s) the image must boot on (default: targets in imsprep.conf, else all)")
    check.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    check.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                       help="colour in text output (default: auto, only on a terminal)")
    check.add_argument("--no-cache", action="store_true",
                       help="read every initramfs again instead of using listings cached in /var/cache/imsprep")
    check.add_argument("-v", "--verbose", action="store_true", help="log every file probe and command to stderr")

    fix = sub.add_parser(
        "fix", help="make the guest boot on KVM and XEN (plan, confirm, apply, verify)",
        description="Compute a plan from the check's findings (remove PV driver suites, disable modprobe rules that block "
                    "native drivers, configure the initramfs generator to keep the drivers, rebuild the initramfs of every "
                    "kernel that needs it), show it with diffs, apply it after confirmation, and check again. Every change "
                    "is backed up and journaled under /var/lib/imsprep; `imsprep rollback` undoes the last run.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fix.add_argument("--root", default="/", metavar="DIR", help="fix the guest mounted at DIR (default: /)")
    fix.add_argument("--target", choices=["kvm", "xen", "all"], default=None,
                     help="hypervisor(s) to prepare for (default: targets in imsprep.conf, else all)")
    fix.add_argument("--dry-run", action="store_true", help="show the plan and the diffs, change nothing")
    fix.add_argument("-y", "--yes", action="store_true", help="apply without asking (required when there is no terminal)")
    fix.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    fix.add_argument("-v", "--verbose", action="store_true", help="log every file probe and command to stderr")

    rollback = sub.add_parser(
        "rollback", help="undo the last fix run (files, initramfs images, removed packages)",
        description="Restore every file the last `imsprep fix` changed, from its journal under /var/lib/imsprep/runs, "
                    "and reinstall the packages it removed from the package files it kept.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rollback.add_argument("--root", default="/", metavar="DIR", help="the guest mounted at DIR (default: /)")
    rollback.add_argument("--dry-run", action="store_true", help="show what would be restored, change nothing")
    rollback.add_argument("-y", "--yes", action="store_true", help="roll back without asking")
    rollback.add_argument("-v", "--verbose", action="store_true", help="log every file probe and command to stderr")
    return parser


def targets_of(value: Optional[str], config: Config) -> List[str]:
    value = value or config.targets
    return ["kvm", "xen"] if value == "all" else [value]


def knowledge_for(config: Config) -> Knowledge:
    knowledge = Knowledge()
    knowledge.add_extra_drivers(config.extra_drivers)
    return knowledge


def open_system(root: str) -> System:
    if not os.path.isdir(root):
        raise UserError("--root %s: no such directory" % root)
    return System(root)


def use_color(args: argparse.Namespace) -> bool:
    choice = getattr(args, "color", "auto")
    return choice == "always" or (choice == "auto" and sys.stdout.isatty() and os.environ.get("NO_COLOR") is None)


def cmd_check(args: argparse.Namespace) -> int:
    system = open_system(args.root)
    config = load_config()
    knowledge = knowledge_for(config)
    facts = gather(system, knowledge, use_cache=not args.no_cache)
    assessment = assess(facts, targets_of(args.target, config))
    data = report.build(assessment)
    if args.format == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(report.render_text(data, color=use_color(args)))
    return EXIT_READY if assessment.all_ready else EXIT_NOT_READY


def confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UserError("refusing to change anything without --yes (there is no terminal to ask on)")
    sys.stderr.write(question + " [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UserError("cancelled; nothing was changed")


def render_plan(system: System, targets: List[str], plan: "Plan") -> str:  # noqa: F821
    return report.render_template("plan.txt.j2", version=__version__, live=system.live, root=system.root,
                                  targets=targets, plan=plan.to_dict())


def cmd_fix(args: argparse.Namespace) -> int:
    from .fix.journal import Lock
    from .fix.plan import build_plan
    from .fix.runner import Outcome, apply_plan, check_free_space, finish_run, start_run

    system = open_system(args.root)
    config = load_config()
    targets = targets_of(args.target, config)
    knowledge = knowledge_for(config)
    # a dry run is read-only, like check: it takes no lock and writes nothing
    with (contextlib.nullcontext() if args.dry_run else Lock(system, "fix")):
        facts = gather(system, knowledge)
        assessment = assess(facts, targets)
        plan = build_plan(facts, assessment, config.ignore_suites)
        plan_text = render_plan(system, targets, plan)
        out = sys.stderr if args.format == "json" else sys.stdout
        out.write(plan_text)
        out.flush()
        outcome = None
        if plan.actions and not args.dry_run:
            confirm(args, "Apply these %d change(s)?" % len(plan.actions))
            check_free_space(system, plan)
            journal = start_run(system)
            outcome = Outcome()
            try:
                suites = [a for a in plan.actions if a.kind == "remove-suite"]
                if suites and len(suites) < len(plan.actions):
                    # the reference procedure: PV suites go first; what they leave decides the rest
                    outcome.merge(apply_plan(system, plan.only(suites), journal))
                    if not outcome.failed:
                        facts = gather(system, knowledge)
                        plan = build_plan(facts, assess(facts, targets), config.ignore_suites)
                        out.write("\nPlan after removing the PV suites:\n")
                        out.write(render_plan(system, targets, plan))
                        check_free_space(system, plan)
                        outcome.merge(apply_plan(system, plan, journal))
                else:
                    outcome.merge(apply_plan(system, plan, journal))
            finally:
                finish_run(journal, outcome)
            facts = gather(system, knowledge)
            assessment = assess(facts, targets)
        elif args.dry_run and plan.actions:
            out.write("dry run: nothing was changed\n")
        data = report.build(assessment)
    if args.format == "json":
        result = {"plan": plan.to_dict(), "applied": outcome.to_dict() if outcome else None, "report": data}
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        if outcome is not None:
            sys.stdout.write("\nApplied: %d, failed: %d\n" % (len(outcome.done), len(outcome.failed)))
            for line in outcome.failed:
                sys.stdout.write("  FAILED %s\n" % line)
            sys.stdout.write("\nAfter the fix:\n")
        sys.stdout.write(report.render_text(data, color=use_color(args)))
    failed = bool(outcome and outcome.failed)
    return EXIT_READY if assessment.all_ready and not failed else EXIT_NOT_READY


def cmd_rollback(args: argparse.Namespace) -> int:
    from .fix.journal import Journal, Lock
    from .fix.runner import rollback

    system = open_system(args.root)
    with Lock(system, "rollback"):
        journal = Journal.last(system)
        if journal is None:
            sys.stdout.write("nothing to roll back: no fix run in %s\n" % (system.root.rstrip("/") + "/var/lib/imsprep/runs"))
            return EXIT_READY
        changed = sorted({str(e["path"]) for e in journal.entries() if e.get("op") == "file"})
        packages = [p for e in journal.entries() if e.get("op") == "packages-removed" for p in e.get("packages", [])]
        sys.stdout.write("rollback of run %s: %d file(s), %d package(s)\n" % (journal.run_id, len(changed), len(packages)))
        for path in changed[:40]:
            sys.stdout.write("  restore %s\n" % path)
        if len(changed) > 40:
            sys.stdout.write("  ... and %d more files\n" % (len(changed) - 40))
        for name, version in packages:
            sys.stdout.write("  reinstall %s %s\n" % (name, version))
        if args.dry_run:
            sys.stdout.write("dry run: nothing was changed\n")
            return EXIT_READY
        confirm(args, "Roll back run %s?" % journal.run_id)
        rollback(system, journal)
    sys.stdout.write("rolled back run %s\n" % journal.run_id)
    return EXIT_READY


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="imsprep: %(message)s", stream=sys.stderr)
    signals.install()  # SIGTERM and SIGHUP like SIGINT: child trees killed, journal noted
    try:
        if args.command == "check":
            return cmd_check(args)
        if args.command == "fix":
            return cmd_fix(args)
        if args.command == "rollback":
            return cmd_rollback(args)
    except (UserError, ParseError) as exc:
        sys.stderr.write("imsprep: error: %s\n" % exc)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        return signals.interrupted(exc, args)
    except BrokenPipeError:
        return EXIT_ERROR
    return EXIT_ERROR
