"""``imsprep seal``: plan, confirm, apply, optionally power off."""

import argparse
import os
import sys
from typing import List

from ..errors import UserError
from ..i18n import N_, _, translate_message, translated
from ..system import System
from . import NOTE, REGISTRY, REMOVE, REMOVE_TREE, REPLACE, RUN, TRUNCATE, Context, Item, SealPlan, build_plan, select

# the verbs of the plan's item lines, in the reader's language (English: Item.summary, unchanged)
VERB_TEXT = {TRUNCATE: N_("empty"), REMOVE: N_("remove"), REMOVE_TREE: N_("remove"), REPLACE: N_("replace"), RUN: N_("run"),
             NOTE: N_("note")}

EXIT_OK = 0
EXIT_FAILED = 1
SEAL_LOG = "/var/log/imsprep/seal.log"

DESCRIPTION = """Remove what ties the image to this machine and its history before it is captured: the
reference procedure's last step ("clean logs and history, shut down, create the image"). Prints a
plan (every file and what happens to it), asks, applies. Sealing is one-way: nothing is backed up
(a copy of SSH keys or histories would defeat it); only the list of what was removed is written,
to /var/log/imsprep/seal.log (emptied at the end) or to --log FILE outside the image. It also
removes imsprep's own state, which ends `imsprep rollback`."""


SEAL_EPILOG = """exit codes:
  0  sealed, nothing to seal, or a dry run
  1  at least one item could not be removed or emptied (listed)
  2  error or refusal (bad arguments, no --yes without a terminal, a fix run that can still be rolled back)"""


def add_parser(sub: "argparse._SubParsersAction", epilog: str = SEAL_EPILOG) -> argparse.ArgumentParser:
    epilog = SEAL_EPILOG
    seal = sub.add_parser("seal", help="clean the guest for capture: histories, logs, identity, caches (one-way)",
                          description=DESCRIPTION, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = seal.add_mutually_exclusive_group()
    where.add_argument("--root", default="/", metavar="DIR", help="seal the guest mounted at DIR (default: /, live)")
    where.add_argument("--image", metavar="DISK",
                       help="seal the guest on the whole-disk image DISK (raw or qcow2; attached, mounted as its fstab "
                            "says, and detached again)")
    seal.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    seal.add_argument("-y", "--yes", action="store_true", help="apply without asking (required when there is no terminal)")
    seal.add_argument("--only", metavar="OP,...",
                      help="apply only these operations (may name off-by-default ones; 'defaults' stands for the default set)")
    seal.add_argument("--skip", metavar="OP,...", help="do not apply these operations")
    seal.add_argument("--end-rollback", action="store_true",
                      help="seal even though the last `imsprep fix` run could still be rolled back (its backups are deleted)")
    seal.add_argument("--poweroff", action="store_true", help="power the live system off after sealing")
    seal.add_argument("--log", metavar="FILE", help="write the list of what was removed to FILE (outside the image) "
                                                    "instead of %s" % SEAL_LOG)
    seal.add_argument("--list", action="store_true", help="list the operations, their defaults and descriptions")
    return seal


def list_operations() -> str:
    from . import operations  # noqa: F401

    width = max(len(n) for n in REGISTRY)
    lines = ["%-*s  %-7s  %s" % (width, "OPERATION", "DEFAULT", "DESCRIPTION")]
    for op in REGISTRY.values():
        lines.append("%-*s  %-7s  %s" % (width, op.name, "on" if op.default else "off", translate_message(op.description)))
    return "\n".join(lines) + "\n"


def item_line(item: Item) -> str:
    """One item of the plan as Item.summary() says it, with its verb and reason in the reader's language."""
    if not translated():
        return item.summary()
    verb = _(VERB_TEXT[item.action])
    detail = ("  (%s)" % translate_message(item.detail)) if item.detail else ""
    if item.action == RUN:
        return "%s  %s" % (verb, " ".join(item.argv or []))
    if item.action == NOTE and not item.path:
        return verb
    if item.action == REMOVE_TREE:
        text = "%s  %s" % (verb, _("%(path)s/ (directory, %(count)d file(s))") % {"path": item.path.rstrip("/"), "count": item.files})
        text += "".join("\n                %s" % m for m in item.members)
        if item.files > len(item.members):
            text += "\n                " + _("... and %(count)d more") % {"count": item.files - len(item.members)}
        return text + ("\n                (%s)" % translate_message(item.detail) if item.detail else "")
    return "%s  %s%s" % (verb, item.path, detail)


def render_plan(plan: SealPlan, log_target: str) -> str:
    system = plan.ctx.system
    out: List[str] = []
    where = _("the running system") if system.live else _("the guest at %(root)s") % {"root": system.label or system.root}
    out.append(_("imsprep seal: plan for %(where)s (distro family: %(family)s)") % {"where": where, "family": plan.ctx.family})
    out += (_("Sealing is one-way: nothing removed is kept anywhere (no backup, no rollback). The list of what is\n"
              "removed goes to %(log)s.") % {"log": translate_message(log_target)}).split("\n")
    if plan.rollback_run:
        out.append(_("Sealing ends rollback: fix run %(run)s could still be rolled back, and its backups are deleted.")
                   % {"run": plan.rollback_run})
    out.append("")
    for op_plan in plan.ops:
        op = op_plan.operation
        on = op.name in plan.selected
        changes = op_plan.changes
        state = "on " if on else "off"
        out.append("[%s] %s: %s" % (state, op.name, translate_message(op.description)))
        if not on:
            if changes:
                out.append("      " + _("not applied: would change %(count)d item(s) (%(how)s)") % {
                    "count": len(changes),
                    "how": _("add it with --only defaults,%(op)s") % {"op": op.name} if not op.default else _("skipped")})
            for note in op_plan.notes:
                out.append("      " + _("note: %(note)s") % {"note": translate_message(note)})
            continue
        for item in op_plan.items:
            out.append("      %s" % item_line(item))
        if not op_plan.items:
            out.append("      " + _("nothing to do"))
        for note in op_plan.notes:
            out.append("      " + _("note: %(note)s") % {"note": translate_message(note)})
    out.append("")
    out.append(_("Total: %(changes)d change(s) in %(ops)d operation(s).") % {
        "changes": len(plan.changes()), "ops": len([p for p in plan.active() if p.changes])})
    return "\n".join(out) + "\n"


def confirm_end_rollback(args: argparse.Namespace, run_id: str) -> None:
    if args.end_rollback:
        return
    if args.yes or not sys.stdin.isatty():
        raise UserError("fix run %s could still be rolled back and sealing deletes its backups; pass --end-rollback to "
                        "seal anyway (or `imsprep rollback` first, or --skip imsprep-state); nothing was changed" % run_id)
    sys.stderr.write("Fix run %s could still be rolled back; sealing deletes its backups. End rollback? [y/N] " % run_id)
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UserError("cancelled; nothing was changed")


def poweroff(system: System) -> int:
    for argv in (["systemctl", "poweroff"], ["poweroff"], ["shutdown", "-h", "now"]):
        if system.which(argv[0]):
            result = system.run(argv, timeout=60)
            if result.ok:
                sys.stdout.write("powering off\n")
                return EXIT_OK
            sys.stderr.write("imsprep: %s exited %d: %s\n" % (" ".join(argv), result.rc, result.stderr.strip()))
    sys.stderr.write("imsprep: could not power off; do it yourself before capturing the image\n")
    return EXIT_FAILED


def cmd_seal(args: argparse.Namespace) -> int:
    if args.list:
        sys.stdout.write(list_operations())
        return EXIT_OK
    if args.log and os.path.isdir(args.log):
        raise UserError("--log %s is a directory; name a file" % args.log)
    selected = select(args.only, args.skip)
    if args.image:
        from ..cli import guest_system

        with guest_system(args, writable=not args.dry_run) as system:
            return seal_system(args, system, selected)
    if not os.path.isdir(args.root):
        raise UserError("--root %s: no such directory" % args.root)
    return seal_system(args, System(args.root), selected)


def seal_system(args: argparse.Namespace, system: System, selected: List[str]) -> int:
    from ..cli import confirm
    from ..fix.journal import LOCK_FILE, STATE_DIR, Lock
    from .apply import SealLog, apply_plan

    if args.poweroff and not system.live:
        raise UserError("--poweroff works only on the live system (under --root or --image, capture the image yourself)")
    log_target = os.path.abspath(args.log) if args.log else _("%(path)s (in the guest, emptied when the seal ends)") % {"path": SEAL_LOG}
    if args.dry_run:
        plan = build_plan(Context(system), selected)
        sys.stdout.write(render_plan(plan, log_target))
        sys.stdout.write(_("dry run: nothing was changed") + "\n")
        return EXIT_OK
    state_existed = system.is_dir(STATE_DIR)
    lock_existed = system.exists(LOCK_FILE)  # a fix run's lock, in the image: listed as removed (this run removes it last)
    with Lock(system, "seal"):
        ctx = Context(system)
        ctx.own_lock = True
        plan = build_plan(ctx, selected)
        sys.stdout.write(render_plan(plan, log_target))
        sys.stdout.flush()
        changes = plan.changes()
        if changes:
            if plan.rollback_run and "imsprep-state" in selected:
                confirm_end_rollback(args, plan.rollback_run)
            confirm(args, _("Seal: apply these %(count)d change(s)? This cannot be undone.") % {"count": len(changes)})
            log = SealLog(system, None if args.log else SEAL_LOG, args.log)
            try:
                outcome = apply_plan(plan, log, progress=lambda m: print(m, file=sys.stderr))
                if lock_existed and "imsprep-state" in selected:
                    log.write("imsprep-state", "removed", LOCK_FILE)
            finally:
                log.close(empty_guest_copy=not args.log)
        else:
            outcome = None
        if "imsprep-state" in selected:
            system.unlink(LOCK_FILE)  # the lock of this run, last of imsprep's state
    if not state_existed and system.is_dir(STATE_DIR) and not system.listdir(STATE_DIR):
        os.rmdir(system.host_path(STATE_DIR))  # made only for this run's lock
    if outcome is None:
        sys.stdout.write(_("nothing to seal") + "\n")
    else:
        sys.stdout.write("\n" + _("Sealed: %(done)d done, %(failed)d failed") % {"done": len(outcome.done), "failed": len(outcome.failed)}
                         + "\n")
        for line in outcome.failed:
            sys.stdout.write("  %s %s\n" % (_("FAILED"), line))
        if args.log:
            sys.stdout.write(_("list of what was removed: %(path)s") % {"path": os.path.abspath(args.log)} + "\n")
        if outcome.failed:
            return EXIT_FAILED
    if args.poweroff:
        return poweroff(system)
    if system.live:
        sys.stdout.write(_("power off (imsprep seal --poweroff, or shutdown) before capturing: a reboot would write new state") + "\n")
    return EXIT_OK
