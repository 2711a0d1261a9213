"""Command line. Exit codes: 0 ready for every requested target, 1 not ready, 2 error."""

import argparse
import json
import logging
import os
import sys
from typing import List, Optional

from . import __version__, report
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
    check.add_argument("--target", choices=["kvm", "xen", "all"], default="all",
                       help="which hypervisor(s) the image must boot on (default: all)")
    check.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    check.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                       help="colour in text output (default: auto, only on a terminal)")
    check.add_argument("-v", "--verbose", action="store_true", help="log every file probe and command to stderr")
    return parser


def targets_of(value: str) -> List[str]:
    return ["kvm", "xen"] if value == "all" else [value]


def cmd_check(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.root):
        raise UserError("--root %s: no such directory" % args.root)
    system = System(args.root)
    knowledge = Knowledge()
    facts = gather(system, knowledge)
    assessment = assess(facts, targets_of(args.target))
    data = report.build(assessment)
    if args.format == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    else:
        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and os.environ.get("NO_COLOR") is None)
        sys.stdout.write(report.render_text(data, color=color))
    return EXIT_READY if assessment.all_ready else EXIT_NOT_READY


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="imsprep: %(message)s", stream=sys.stderr)
    try:
        if args.command == "check":
            return cmd_check(args)
    except (UserError, ParseError) as exc:
        sys.stderr.write("imsprep: error: %s\n" % exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("imsprep: interrupted\n")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    return EXIT_ERROR
