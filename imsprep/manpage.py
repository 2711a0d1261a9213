"""imsprep(8), generated from the command line definition (``python3 -m imsprep.manpage``), so
the options are written down once: in cli.py."""

import argparse
import sys
import time
from typing import List

from . import __version__
from .cli import EPILOG, build_parser
from .config import DEFAULT_PATH


def _roff(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def _options(parser: argparse.ArgumentParser) -> List[str]:
    out = []
    for action in parser._actions:  # argparse offers no public iterator over its actions
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join("\\fB%s\\fR" % _roff(o) for o in action.option_strings)
        if action.metavar or action.choices:
            value = action.metavar or "{%s}" % ",".join(str(c) for c in action.choices)
            if action.nargs != 0:
                names += " \\fI%s\\fR" % _roff(value)
        out += [".TP", names, _roff(action.help or "")]
    return out


def render() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [".TH IMSPREP 8 \"%s\" \"imsprep %s\" \"System Administration\"" % (time.strftime("%Y-%m-%d"), __version__),
             ".SH NAME", "imsprep \\- " + _roff(parser.description or ""),
             ".SH SYNOPSIS"]
    for name in sub.choices:
        lines += [".B imsprep %s" % name, ".RI [ options ]", ".br"]
    lines += [".SH DESCRIPTION", _roff(parser.description or "")]
    for name, command in sub.choices.items():
        lines += [".SH %s" % name.upper(), _roff(command.description or ""), ".SS Options"]
        lines += _options(command)
    lines += [".SH EXIT STATUS"]
    for line in EPILOG.splitlines()[1:]:
        code, _, meaning = line.strip().partition("  ")
        lines += [".TP", "\\fB%s\\fR" % code, _roff(meaning.strip())]
    lines += [".SH FILES",
              ".TP", "\\fI%s\\fR" % _roff(DEFAULT_PATH),
              "defaults for targets, extra_drivers and ignore_suites; command line options override them",
              ".TP", "\\fI/var/lib/imsprep/runs/\\fR", "journals and backups of fix runs, used by rollback",
              ".TP", "\\fI/var/log/imsprep/changes.log\\fR", "every change fix and rollback made",
              ".TP", "\\fI/var/cache/imsprep/\\fR", "cached initramfs listings"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
