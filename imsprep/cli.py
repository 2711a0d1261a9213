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
from typing import TYPE_CHECKING, Iterator, List, Optional, TextIO

from . import __version__, i18n, report, signals
from .config import Config
from .config import load as load_config
from .errors import ParseError, UserError
from .facts import gather
from .i18n import _
from .knowledge import Knowledge
from .rules import assess
from .system import System

if TYPE_CHECKING:  # imported where used, so that check does not load fix
    from .fix.orchestrate import RollbackRun
    from .fix.plan import Plan
    from .fix.runner import RollbackResult

LOG = logging.getLogger("imsprep")

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


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every subcommand takes, before or after its name. On the subcommands their default
    is SUPPRESS, so ``imsprep -v check`` is not undone by the subcommand's own default."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--format", choices=["text", "json"], default=default("text"), help="output format (default: text)")
    parser.add_argument("--color", choices=["auto", "always", "never"], default=default("auto"),
                        help="colour in text output (default: auto: on a terminal, unless NO_COLOR is set or TERM=dumb)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="print only the result and errors (no progress)")
    parser.add_argument("-v", "--verbose", action="count", default=default(0),
                        help="more detail on stderr: -v steps, -vv every file probe and command, -vvv the sh library too")
    parser.add_argument("--log-file", metavar="FILE", default=default(None),
                        help="also write the full debug log to FILE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imsprep",
        description="Prepare a Linux guest so its image boots on both XEN and KVM hosts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="imsprep " + __version__)
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=description, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        _global_options(command, suppress=True)
        return command

    def add_where(command: argparse.ArgumentParser, verb: str) -> None:
        where = command.add_mutually_exclusive_group()
        where.add_argument("--root", default="/", metavar="DIR",
                           help="%s the guest mounted at DIR instead of the running system (default: /)" % verb)
        where.add_argument("--image", metavar="DISK",
                           help="%s the guest on the whole-disk image DISK (raw or qcow2; attached, mounted as its fstab "
                                "says, and detached again)" % verb)

    check = add_command(
        "check", "read-only readiness check (verdict per target)",
        "Check, without changing anything, whether this guest (or the guest tree under --root) will boot on KVM and XEN.")
    add_where(check, "check")
    check.add_argument("--target", choices=["kvm", "xen", "all"], default=None,
                       help="which hypervisor(s) the image must boot on (default: targets in imsprep.conf, else all)")
    check.add_argument("--no-cache", action="store_true",
                       help="read every initramfs again instead of using listings cached in /var/cache/imsprep")

    fix = add_command(
        "fix", "make the guest boot on KVM and XEN (plan, confirm, apply, verify)",
        "Compute a plan from the check's findings (remove PV driver suites, disable modprobe rules that block "
        "native drivers, configure the initramfs generator to keep the drivers, rebuild the initramfs of every "
        "kernel that needs it), show it with diffs, apply it after confirmation, and check again. Every change "
        "is backed up and journaled under /var/lib/imsprep; `imsprep rollback` undoes the last run.")
    add_where(fix, "fix")
    fix.add_argument("--target", choices=["kvm", "xen", "all"], default=None,
                     help="hypervisor(s) to prepare for (default: targets in imsprep.conf, else all)")
    fix.add_argument("--dry-run", action="store_true", help="show the plan and the diffs, change nothing")
    fix.add_argument("-y", "--yes", action="store_true", help="apply without asking (required when there is no terminal)")

    rollback = add_command(
        "rollback", "undo the last fix run (files, initramfs images, removed packages)",
        "Restore every file the last `imsprep fix` changed, from its journal under /var/lib/imsprep/runs, "
        "and reinstall the packages it removed from the package files it kept.")
    add_where(rollback, "roll back")
    rollback.add_argument("--dry-run", action="store_true", help="show what would be restored, change nothing")
    rollback.add_argument("-y", "--yes", action="store_true", help="roll back without asking")
    rollback.add_argument("--force", action="store_true",
                          help="also restore files changed since the fix (their later edits are lost), and give up "
                               "on files whose backup is missing")

    from .seal.cli import add_parser as add_seal_parser

    _global_options(add_seal_parser(sub, EPILOG), suppress=True)
    i18n.translate_parser(parser)  # help in the reader's language (imsprep/messages.py)
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


@contextlib.contextmanager
def guest_system(args: argparse.Namespace, writable: bool) -> Iterator[System]:
    """The System to work on: the running machine, a tree (--root), or a whole-disk image
    (--image: attached and mounted for the duration of the command, then detached)."""
    image = getattr(args, "image", None)
    config = load_config()
    if not image:
        yield open_system(args.root, config)
        return
    from .disk import attached

    with attached(image, writable=writable) as attachment:
        assert attachment.root is not None
        system = System(attachment.root, max_read_bytes=config.max_read_bytes)
        system.disk = attachment.disk
        system.label = "%s (%s)" % (image, attachment.disk.device if attachment.disk else "attached")
        for note in attachment.notes:
            LOG.info("%s: %s", image, note)
        yield system


def use_color(args: argparse.Namespace) -> bool:
    """--color, then NO_COLOR (only a non-empty value counts), then TERM=dumb, then: a terminal?"""
    choice = getattr(args, "color", "auto")
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def setup_logging(args: argparse.Namespace) -> None:
    """-q errors only; default warnings; -v steps; -vv every probe and command; -vvv the sh library's
    own debug output too (it is noise below that). --log-file always gets the full debug log."""
    verbose = int(getattr(args, "verbose", 0) or 0)
    level = logging.ERROR if getattr(args, "quiet", False) else \
        [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("imsprep: %(message)s"))
    root.addHandler(console)
    log_file = getattr(args, "log_file", None)
    if log_file:
        try:
            handler = logging.FileHandler(log_file)
        except OSError as exc:
            raise UserError("--log-file %s: %s" % (log_file, exc.strerror or exc)) from None
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    logging.getLogger("sh").setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
    from .fix import runner

    runner.QUIET = bool(getattr(args, "quiet", False))


def cmd_check(args: argparse.Namespace) -> int:
    with guest_system(args, writable=False) as system:
        return _check(args, system)


REPORTS_KEPT = 100


def save_report(kind: str, data: object, system: System) -> Optional[str]:
    """Keep a copy of every check and fix report on the machine imsprep runs on, in
    /var/log/imsprep (IMSPREP_REPORT_DIR): ``<kind>-<UTC ISO 8601>-<host>.json``, the newest
    REPORTS_KEPT of each kind. Best effort: a user who may not write there still gets the report."""
    import socket

    directory = os.environ.get("IMSPREP_REPORT_DIR", "/var/log/imsprep")
    host = socket.gethostname() if system.live else "offline-" + os.path.basename((system.label or system.root).split(" ")[0].rstrip("/"))
    host = "".join(c if c.isalnum() or c in "-._" else "_" for c in host) or "unknown"
    name = "%s-%s-%s.json" % (kind, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), host)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        path = os.path.join(directory, name)
        with open(path, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        old = sorted(n for n in os.listdir(directory) if n.startswith(kind + "-") and n.endswith(".json"))
        for stale in old[:-REPORTS_KEPT]:
            os.unlink(os.path.join(directory, stale))
        LOG.info("report kept in %s", path)
        return path
    except OSError as exc:
        LOG.debug("report not kept in %s: %s", directory, exc)
        return None


def _check(args: argparse.Namespace, system: System) -> int:
    config = load_config()
    knowledge = knowledge_for(config)
    facts = gather(system, knowledge, use_cache=not args.no_cache)
    assessment = assess(facts, targets_of(args.target, config))
    data = report.build(assessment)
    save_report("check", data, system)
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
    sys.stderr.write(question + _(" [y/N] "))
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes", _("y"), _("yes")):
        raise UserError("cancelled; nothing was changed")


def render_plan(system: System, targets: List[str], plan: "Plan") -> str:
    return report.render_template("plan.txt.j2", version=__version__, live=system.live, root=system.label or system.root,
                                  targets=targets, plan=plan.to_dict())


def cmd_fix(args: argparse.Namespace) -> int:
    with guest_system(args, writable=not args.dry_run) as system:
        return _fix(args, system)


def _fix(args: argparse.Namespace, system: System) -> int:
    from .fix import orchestrate

    config = load_config()
    targets = targets_of(args.target, config)
    out = sys.stderr if args.format == "json" else sys.stdout

    def show(plan: "Plan", heading: Optional[str]) -> None:
        if heading:
            out.write("\n%s\n" % _(heading))
        out.write(render_plan(system, targets, plan))
        out.flush()

    def ask(plan: "Plan") -> None:
        confirm(args, _("Apply these %(count)d change(s)?") % {"count": len(plan.actions)})

    run = orchestrate.fix(system, knowledge_for(config), targets, config.ignore_suites, args.dry_run, show, ask)
    if args.dry_run and run.plan.actions:
        out.write(_("dry run: nothing was changed") + "\n")
    result = run.to_dict()
    if not args.dry_run:
        save_report("fix", result, system)
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        outcome, assessment = run.outcome, run.assessment
        if outcome is not None:
            by_fallback = _(" (%(count)d by a fallback)") % {"count": len(outcome.fallbacks)} if outcome.fallbacks else ""
            missing = [t for t in targets if not assessment.ready(t)]  # why not ready, in one line
            why = _("; still not ready for %(targets)s: %(reason)s") % {
                "targets": _(" and ").join(t.upper() for t in missing),
                "reason": i18n.translate_message(assessment.blocking(missing[0])[0].message)} if missing else ""
            sys.stdout.write("\n" + _("Applied: %(done)d%(fallback)s, failed: %(failed)d%(why)s") % {
                "done": len(outcome.done), "fallback": by_fallback, "failed": len(outcome.failed), "why": why} + "\n")
            for step in outcome.steps:
                sys.stdout.write("  %6.1f s  %s%s\n" % (step["seconds"], "" if step["ok"] else _("FAILED: "),
                                                        i18n.translate_message(step["step"])))
            for line in outcome.fallbacks:
                sys.stdout.write("  %s %s\n" % (_("FALLBACK"), i18n.translate_message(line)))
            for line in outcome.failed:
                sys.stdout.write("  %s %s\n" % (_("FAILED"), i18n.translate_message(line)))
            sys.stdout.write("\n" + _("After the fix:") + "\n")
        sys.stdout.write(report.render_text(run.report, color=use_color(args)))
    return EXIT_READY if run.ready() else EXIT_NOT_READY


def cmd_rollback(args: argparse.Namespace) -> int:
    with guest_system(args, writable=not args.dry_run) as system:
        return _rollback(args, system)


def _rollback(args: argparse.Namespace, system: System) -> int:
    from .fix import orchestrate

    out = sys.stderr if args.format == "json" else sys.stdout

    def show(run: "RollbackRun") -> None:
        done = run.restored_earlier
        out.write(_("rollback of run %(run)s: %(files)d file(s), %(packages)d package(s)%(earlier)s") % {
            "run": run.run_id, "files": len(run.changed), "packages": len(run.packages),
            "earlier": _(" (%(count)d file(s) restored by an earlier rollback)") % {"count": len(done)} if done else ""} + "\n")
        for path in run.changed[:40]:
            out.write("  " + _("restore %(path)s") % {"path": path} + "\n")
        if len(run.changed) > 40:
            out.write("  " + _("... and %(count)d more files") % {"count": len(run.changed) - 40} + "\n")
        for name, version in run.packages:
            out.write("  " + _("reinstall %(name)s %(version)s") % {"name": name, "version": version} + "\n")

    def ask(run: "RollbackRun") -> None:
        confirm(args, _("Roll back run %(run)s?") % {"run": run.run_id})

    run = orchestrate.rollback_last(system, args.force, args.dry_run, show, ask)
    if run.result is None:
        runs = system.root.rstrip("/") + "/var/lib/imsprep/runs"
        out.write(_("nothing to roll back: no fix run in %(path)s") % {"path": runs} + "\n")
    else:
        _rollback_problems(run.result, args.dry_run, out)
        if args.dry_run:
            out.write(_("dry run: nothing was changed") + "\n")
        elif run.complete:
            out.write(_("rolled back run %(run)s") % {"run": run.run_id} + "\n")
        else:
            out.write(_("run %(run)s rolled back in part: %(done)d restored, %(kept)d kept, %(failed)d not restored") % {
                "run": run.run_id, "done": len(run.result.done), "kept": len(run.result.refused),
                "failed": len(run.result.failed)} + "\n")
    code = EXIT_READY if run.complete else EXIT_NOT_READY
    if args.format == "json":
        data = run.to_dict()
        data["exit_code"] = code
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return code


def _rollback_problems(result: "RollbackResult", dry_run: bool, out: TextIO) -> None:
    refused = result.refused
    failed = result.failed
    if refused:
        kept = _("would keep %(count)d file(s) changed since the fix (kept, so no later edit is lost):") if dry_run else \
            _("KEPT %(count)d file(s) changed since the fix (kept, so no later edit is lost):")
        out.write(kept % {"count": len(refused)} + "\n")
        for diff in result.diffs:
            out.write(diff)
        out.write((_("`imsprep rollback --force` restores it anyway (the later edits are then lost): %(files)s")
                          if len(refused) == 1 else
                          _("`imsprep rollback --force` restores them anyway (the later edits are then lost): %(files)s"))
                         % {"files": " ".join(refused)} + "\n")
    for line in failed:
        out.write("%s %s\n" % (_("would fail:") if dry_run else _("NOT RESTORED:"), i18n.translate_message(line)))
    for line in result.given_up:
        out.write("%s %s\n" % (_("would give up:") if dry_run else _("GIVEN UP:"), i18n.translate_message(line)))
    if any("missing" in f for f in failed):
        out.write(_("`imsprep rollback --force` gives up on files whose backup is missing and finishes the rollback") + "\n")


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
        sys.stderr.write(i18n.error_line(_("%(command)s must run as root (it changes the guest's files and keeps its journal "
                                           "under /var/lib/imsprep)") % {"command": args.command}))
        return EXIT_ERROR
    signals.install()  # SIGTERM and SIGHUP like SIGINT: child trees killed, journal noted
    try:
        setup_logging(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "fix":
            return cmd_fix(args)
        if args.command == "rollback":
            return cmd_rollback(args)
        if args.command == "seal":
            from .seal.cli import cmd_seal
            return cmd_seal(args)
    except (UserError, ParseError) as exc:
        sys.stderr.write(i18n.error_line(str(exc)))
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        return signals.interrupted(exc, args)
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
            sys.stderr.write(i18n.error_line("%s: %s" % (exc.filename or _("a file"), _(exc.strerror) if exc.strerror else exc)))
            return EXIT_ERROR
        return _internal_error()
    except Exception:  # noqa: BLE001 - the one place every unexpected error ends: one line, a log file
        return _internal_error()
    return EXIT_ERROR


def _internal_error() -> int:
    try:
        path = crash_log()
        where = _("details in %(path)s") % {"path": path}
    except Exception:  # noqa: BLE001
        where = _("no log file could be written")
    kind = sys.exc_info()[0]
    sys.stderr.write(_("imsprep: internal error (%(kind)s): %(where)s; please report it") % {
        "kind": kind.__name__ if kind else "unknown", "where": where} + "\n")
    return EXIT_INTERNAL
