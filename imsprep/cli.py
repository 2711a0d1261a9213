"""Command line. Exit codes: 0 ready for every requested target, 1 not ready, 2 usage or bad
input, 3 internal error (one line on stderr naming the log file that holds the traceback)."""

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from typing import List, Optional

from . import __version__, report
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
EXIT_INTERNAL = 3
CRASH_DIR = "/var/log/imsprep"

EPILOG = """exit codes:
  0  ready for every requested target
  1  not ready for at least one requested target (rollback: something was not restored)
  2  usage error or bad input (bad arguments, not root for fix/rollback, unreadable or
     read-only root, ...): one line on stderr
  3  internal error: one line on stderr naming the log file that holds the details"""


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
    rollback.add_argument("--force", action="store_true",
                          help="also restore files changed since the fix (their later edits are lost), and give up "
                               "on files whose backup is missing")
    rollback.add_argument("-v", "--verbose", action="store_true", help="log every file probe and command to stderr")
    return parser


def targets_of(value: Optional[str], config: Config) -> List[str]:
    value = value or config.targets
    return ["kvm", "xen"] if value == "all" else [value]


def knowledge_for(config: Config) -> Knowledge:
    knowledge = Knowledge()
    knowledge.add_extra_drivers(config.extra_drivers)
    return knowledge


def open_system(root: str, config: Optional[Config] = None) -> System:
    if not os.path.isdir(root):
        raise UserError("--root %s: no such directory" % root)
    return System(root, max_read_bytes=config.max_read_bytes if config else None)


def use_color(args: argparse.Namespace) -> bool:
    choice = getattr(args, "color", "auto")
    return choice == "always" or (choice == "auto" and sys.stdout.isatty() and os.environ.get("NO_COLOR") is None)


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config()
    system = open_system(args.root, config)
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
    from .fix.runner import Outcome, apply_plan, check_free_space, finish_run, start_run, validate_plan

    config = load_config()
    system = open_system(args.root, config)
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
            validate_plan(system, plan)
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
                        validate_plan(system, plan)
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

    system = open_system(args.root, load_config())
    with Lock(system, "rollback"):
        journal = Journal.last(system)
        if journal is None:
            sys.stdout.write("nothing to roll back: no fix run in %s\n" % (system.root.rstrip("/") + "/var/lib/imsprep/runs"))
            return EXIT_READY
        entries = list(journal.entries())
        done = {str(e["path"]) for e in entries if e.get("op") == "restored"}
        changed = sorted({str(e["path"]) for e in entries if e.get("op") == "file"} - done)
        packages = [p for e in entries if e.get("op") == "packages-removed" for p in e.get("packages", [])]
        sys.stdout.write("rollback of run %s: %d file(s), %d package(s)%s\n" % (
            journal.run_id, len(changed), len(packages), " (%d file(s) restored by an earlier rollback)" % len(done) if done else ""))
        for path in changed[:40]:
            sys.stdout.write("  restore %s\n" % path)
        if len(changed) > 40:
            sys.stdout.write("  ... and %d more files\n" % (len(changed) - 40))
        for name, version in packages:
            sys.stdout.write("  reinstall %s %s\n" % (name, version))
        if args.dry_run:
            result = rollback(system, journal, force=args.force, dry_run=True)
            _rollback_problems(result, dry_run=True)
            sys.stdout.write("dry run: nothing was changed\n")
            return EXIT_READY if result.complete else EXIT_NOT_READY
        confirm(args, "Roll back run %s?" % journal.run_id)
        result = rollback(system, journal, force=args.force)
    _rollback_problems(result, dry_run=False)
    if result.complete:
        sys.stdout.write("rolled back run %s\n" % journal.run_id)
        return EXIT_READY
    sys.stdout.write("run %s rolled back in part: %d restored, %d kept, %d not restored\n"
                     % (journal.run_id, len(result.done), len(result.refused), len(result.failed)))
    return EXIT_NOT_READY


def _rollback_problems(result: "RollbackResult", dry_run: bool) -> None:  # noqa: F821
    refused = result.refused
    failed = result.failed
    if refused:
        sys.stdout.write("%s %d file(s) changed since the fix (kept, so no later edit is lost):\n"
                         % ("would keep" if dry_run else "KEPT", len(refused)))
        for diff in result.diffs:
            sys.stdout.write(diff)
        sys.stdout.write("`imsprep rollback --force` restores %s anyway (the later edits are then lost): %s\n"
                         % ("it" if len(refused) == 1 else "them", " ".join(refused)))
    for line in failed:
        sys.stdout.write("%s %s\n" % ("would fail:" if dry_run else "NOT RESTORED:", line))
    for line in result.given_up:
        sys.stdout.write("%s %s\n" % ("would give up:" if dry_run else "GIVEN UP:", line))
    if any("missing" in f for f in failed):
        sys.stdout.write("`imsprep rollback --force` gives up on files whose backup is missing and finishes the rollback\n")


def crash_log() -> str:
    """Write the current exception's traceback to a log file on this machine; return its path."""
    text = "imsprep %s crashed at %s UTC\nargv: %r\n\n%s" % (
        __version__, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), sys.argv, traceback.format_exc())
    name = "crash-%s.log" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        os.makedirs(CRASH_DIR, mode=0o755, exist_ok=True)
        path = os.path.join(CRASH_DIR, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    except OSError:
        fd, path = tempfile.mkstemp(prefix="imsprep-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _command_needs_root(args: argparse.Namespace) -> bool:
    return args.command in ("fix", "rollback")


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    if _command_needs_root(args) and os.geteuid() != 0:
        sys.stderr.write("imsprep: error: %s must run as root (it changes the guest's files and keeps its journal "
                         "under /var/lib/imsprep)\n" % args.command)
        return EXIT_ERROR
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="imsprep: %(message)s", stream=sys.stderr)
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
    except KeyboardInterrupt:
        sys.stderr.write("imsprep: interrupted\n")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
            sys.stderr.write("imsprep: error: %s: %s\n" % (exc.filename or "a file", exc.strerror or exc))
            return EXIT_ERROR
        return _internal_error()
    except Exception:  # noqa: BLE001 - the one place every unexpected error ends: one line, a log file
        return _internal_error()
    return EXIT_ERROR


def _internal_error() -> int:
    try:
        path = crash_log()
        where = "details in %s" % path
    except Exception:  # noqa: BLE001
        where = "no log file could be written"
    sys.stderr.write("imsprep: internal error (%s): %s; please report it\n" % (sys.exc_info()[0].__name__, where))
    return EXIT_INTERNAL
