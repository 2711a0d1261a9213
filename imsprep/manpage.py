"""imsprep(8), generated from the command line definition (``python3 -m imsprep.manpage``), so
the options are written down once: in cli.py."""

import argparse
import sys
import time
from typing import List

from . import __version__
from .cli import build_parser
from .config import DEFAULT_PATH

EXIT_STATUS = [
    (0, "ready for every requested target (check), or fixed and ready (fix); rollback done"),
    (1, "not ready for at least one requested target, or an action of fix failed"),
    (2, "usage error or bad input: unknown option, unreadable --root or --image, bad imsprep.conf, "
        "lock held by another run, no terminal to confirm on without --yes"),
    (3, "internal error (a bug in imsprep: please report it with the output of -vv)"),
]

ENVIRONMENT = [
    ("IMSPREP_CONFIG", "read the configuration from this file instead of %s" % DEFAULT_PATH),
    ("IMSPREP_DATA_DIR", "read the knowledge base (checks/) and templates (templates/) from this directory "
                         "instead of the ones installed with imsprep"),
    ("NO_COLOR", "when set and not empty, no colour in text output (--color always still colours)"),
    ("TERM", "when dumb, no colour in text output unless --color always is given"),
]

FILES = [
    (DEFAULT_PATH, "defaults for targets, extra_drivers and ignore_suites; command line options override them"),
    ("/etc/imsprep/cloud-init.conf", "mode=check (the default) or mode=fix: what the cloud-init hook runs at an "
                                     "instance's first boot"),
    ("/var/lib/imsprep/runs/", "journals and backups of fix runs, one directory per run, used by rollback"),
    ("/var/lib/imsprep/lock", "keeps two fix or rollback runs on the same guest apart; names the holder"),
    ("/var/log/imsprep/changes.log", "every change fix and rollback made, in plain words"),
    ("/var/log/imsprep/cloud-init.log", "output and exit code of every run of the cloud-init hook"),
    ("/var/cache/imsprep/", "cached initramfs listings (check --no-cache ignores them)"),
    ("/usr/lib/imsprep/cloud-init-hook", "the cloud-init per-instance hook; imsprep-cloud-hook.service copies it to "
                                         "/var/lib/cloud/scripts/per-instance/imsprep at every boot"),
]

SEE_ALSO = [("dracut", "8"), ("mkinitramfs", "8"), ("update-initramfs", "8"), ("grub-mkconfig", "8"),
            ("cloud-init", "1"), ("virt-v2v", "1"), ("virt-sysprep", "1")]


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
            metavar = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar or ())
            value = metavar or "{%s}" % ",".join(str(c) for c in action.choices or ())
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
    for code, meaning in EXIT_STATUS:
        lines += [".TP", "\\fB%d\\fR" % code, _roff(meaning)]
    lines += [".SH ENVIRONMENT"]
    for name, meaning in ENVIRONMENT:
        lines += [".TP", "\\fB%s\\fR" % _roff(name), _roff(meaning)]
    lines += [".SH FILES"]
    for path, meaning in FILES:
        lines += [".TP", "\\fI%s\\fR" % _roff(path), _roff(meaning)]
    lines += [".SH SEE ALSO", ",\n".join("\\fB%s\\fR(%s)" % (_roff(name), section) for name, section in SEE_ALSO)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
