"""imsprep(8), generated from the command line definition (``python3 -m imsprep.manpage``), so
the options are written down once: in cli.py."""

import argparse
import sys
import time
from typing import List, Optional

from . import __version__, i18n
from .cli import build_parser
from .config import DEFAULT_PATH
from .i18n import N_, _

EXIT_STATUS = [
    (0, N_("ready for every requested target (check), or fixed and ready (fix); rollback done")),
    (1, N_("not ready for at least one requested target, or an action of fix failed")),
    (2, N_("usage error or bad input: unknown option, unreadable --root or --image, bad imsprep.conf, "
        "lock held by another run, no terminal to confirm on without --yes")),
    (3, N_("internal error (a bug in imsprep: please report it with the output of -vv)")),
]

ENVIRONMENT = [
    ("IMSPREP_CONFIG", N_("read the configuration from this file instead of %(path)s")),
    ("IMSPREP_DATA_DIR", N_("read the knowledge base (checks/) and templates (templates/) from this directory "
                         "instead of the ones installed with imsprep")),
    ("NO_COLOR", N_("when set and not empty, no colour in text output (--color always still colours)")),
    ("TERM", N_("when dumb, no colour in text output unless --color always is given")),
]

FILES = [
    (DEFAULT_PATH, N_("defaults for targets, extra_drivers and ignore_suites; command line options override them")),
    ("/etc/imsprep/cloud-init.conf", N_("mode=check (the default) or mode=fix: what the cloud-init hook runs at an "
                                     "instance's first boot")),
    ("/var/lib/imsprep/runs/", N_("journals and backups of fix runs, one directory per run, used by rollback")),
    ("/var/lib/imsprep/lock", N_("keeps two fix or rollback runs on the same guest apart; names the holder")),
    ("/var/log/imsprep/changes.log", N_("every change fix and rollback made, in plain words")),
    ("/var/log/imsprep/cloud-init.log", N_("output and exit code of every run of the cloud-init hook")),
    ("/var/cache/imsprep/", N_("cached initramfs listings (check --no-cache ignores them)")),
    ("/usr/lib/imsprep/cloud-init-hook", N_("the cloud-init per-instance hook; imsprep-cloud-hook.service copies it to "
                                         "/var/lib/cloud/scripts/per-instance/imsprep at every boot")),
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
    """The man page in the reader's language (the locale, or ``--lang`` of the command line)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [".TH IMSPREP 8 \"%s\" \"imsprep %s\" \"%s\"" % (time.strftime("%Y-%m-%d"), __version__, _("System Administration")),
             ".SH %s" % _("NAME"), "imsprep \\- " + _roff(parser.description or ""),
             ".SH %s" % _("SYNOPSIS")]
    for name in sub.choices:
        lines += [".B imsprep %s" % name, ".RI [ %s ]" % _("options"), ".br"]
    lines += [".SH %s" % _("DESCRIPTION"), _roff(parser.description or "")]
    for name, command in sub.choices.items():
        lines += [".SH %s" % name.upper(), _roff(command.description or ""), ".SS %s" % _("Options")]
        lines += _options(command)
    lines += [".SH %s" % _("EXIT STATUS")]
    for code, meaning in EXIT_STATUS:
        lines += [".TP", "\\fB%d\\fR" % code, _roff(_(meaning))]
    lines += [".SH %s" % _("ENVIRONMENT")]
    for name, meaning in ENVIRONMENT:
        lines += [".TP", "\\fB%s\\fR" % _roff(name), _roff(_(meaning) % {"path": DEFAULT_PATH} if "%(path)s" in meaning else _(meaning))]
    lines += [".SH %s" % _("FILES")]
    for path, meaning in FILES:
        lines += [".TP", "\\fI%s\\fR" % _roff(path), _roff(_(meaning))]
    lines += [".SH %s" % _("SEE ALSO"), ",\n".join("\\fB%s\\fR(%s)" % (_roff(name), section) for name, section in SEE_ALSO)]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m imsprep.manpage", description="Print imsprep(8) in roff.")
    parser.add_argument("--lang", help="the language (zh_CN; default: the locale's, as gettext chooses it; C: English)")
    args = parser.parse_args(argv)
    if args.lang:
        i18n.use_language(args.lang)
    sys.stdout.flush()
    sys.stdout.buffer.write(render().encode("utf-8"))  # whatever the build's locale (groff's preconv reads UTF-8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
