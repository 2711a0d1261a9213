"""Messages in the reader's language: gettext, domain ``imsprep``, catalogues in imsprep/locale.

The language is the locale's, as gettext chooses it: LANGUAGE, LC_ALL, LC_MESSAGES, LANG (the first
one set wins; ``C``/``POSIX`` mean English). Packages ship ``locale/<lang>/LC_MESSAGES/imsprep.mo``,
compiled from the ``.po`` with Babel when they are built (setup.py, debian/rules, the spec,
tools/build_pyz.py). Babel is not needed at run time: where there is no ``.mo`` (a source
checkout), the ``.po`` is compiled in memory by the small reader below (stdlib only, Python 3.6).
No catalogue for the language: English.

Only what a person reads is translated: codes, JSON keys and JSON values stay English. Finding
messages, plan lines and errors are built in English where they arise; :func:`translate_message`
turns them into the reader's language at the presentation layer, through the English patterns in
imsprep/messages.py (an untranslated or unknown text stays English)."""

import argparse
import ast
import gettext
import io
import os
import pkgutil
import re
import struct
import sys
from typing import Dict, List, Optional, Tuple

DOMAIN = "imsprep"
LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")

_translation = None  # type: Optional[gettext.NullTranslations]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def languages() -> List[str]:
    """The locale's languages, most wanted first, as gettext.find expands them (``zh_CN.UTF-8`` ->
    ``zh_CN``, ``zh``); empty for C/POSIX or no locale."""
    value = ""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            break
    out: List[str] = []
    for item in value.split(":"):
        if item in ("C", "POSIX") or item.startswith(("C.", "POSIX.")):
            break
        if not item:
            continue
        lang = item.split("@")[0].split(".")[0]
        for candidate in (lang, lang.split("_")[0]):
            if candidate and candidate not in out:
                out.append(candidate)
    return out


def _read_packaged(lang: str, suffix: str) -> Optional[bytes]:
    name = "%s/LC_MESSAGES/%s.%s" % (lang, DOMAIN, suffix)
    path = os.path.join(LOCALE_DIR, *name.split("/"))
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            return fh.read()
    try:  # inside the zipapp
        return pkgutil.get_data(__name__.rpartition(".")[0], "locale/" + name)
    except OSError:
        return None


def _po_string(lines: List[str]) -> str:
    return "".join(ast.literal_eval(line) for line in lines)


def parse_po(text: str) -> Dict[str, str]:
    """msgid -> msgstr of a .po file (plural forms as ``msgid\\0plural`` -> ``form0\\0form1``, as in a
    .mo); fuzzy and untranslated entries are left out, as msgfmt leaves them out."""
    catalog: Dict[str, str] = {}
    entry: Dict[str, List[str]] = {}
    current: Optional[List[str]] = None
    fuzzy = False

    def flush() -> None:
        nonlocal fuzzy
        if "msgid" in entry:
            msgid = _po_string(entry["msgid"])
            if "msgid_plural" in entry:
                msgid += "\0" + _po_string(entry["msgid_plural"])
                forms = sorted(k for k in entry if k.startswith("msgstr["))
                msgstr = "\0".join(_po_string(entry[k]) for k in forms)
            else:
                msgstr = _po_string(entry.get("msgstr", []))
            if msgstr.replace("\0", "") and (not fuzzy or not msgid):
                catalog[msgid] = msgstr
        entry.clear()
        fuzzy = False

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                if "msgid" in entry:
                    flush()
                fuzzy = True
            continue
        if line.startswith('"'):
            if current is not None:
                current.append(line)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword == "msgid" and "msgid" in entry:
            flush()
        current = entry.setdefault(keyword, [])
        current.append(rest.strip())
    flush()
    return catalog


def mo_bytes(catalog: Dict[str, str]) -> bytes:
    """A GNU .mo file of ``catalog`` (the format gettext.GNUTranslations reads)."""
    keys = sorted(catalog)
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        k = key.encode("utf-8")
        v = catalog[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    start = 7 * 4 + 16 * len(keys)
    koffsets: List[int] = []
    voffsets: List[int] = []
    for o1, l1, o2, l2 in offsets:
        koffsets += [l1, o1 + start]
        voffsets += [l2, o2 + start + len(ids)]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + len(keys) * 8, 0, 0)
    return header + struct.pack("%di" % len(koffsets), *koffsets) + struct.pack("%di" % len(voffsets), *voffsets) + ids + strs


def load(langs: Optional[List[str]] = None) -> gettext.NullTranslations:
    """The catalogue for ``langs`` (default: the locale's): the compiled .mo, else the .po compiled
    here; English (NullTranslations) when there is neither."""
    for lang in languages() if langs is None else langs:
        data = _read_packaged(lang, "mo")
        if data is None:
            po = _read_packaged(lang, "po")
            if po is not None:
                data = mo_bytes(parse_po(po.decode("utf-8")))
        if data is not None:
            return gettext.GNUTranslations(io.BytesIO(data))
    return gettext.NullTranslations()


def translation() -> gettext.NullTranslations:
    global _translation
    if _translation is None:
        _translation = load()
        if type(_translation) is not gettext.NullTranslations and not _can_write(_("Findings")):
            # e.g. Python 3.6 where the locale is not installed: stdout is ASCII; English, not a crash
            _translation = gettext.NullTranslations()
    return _translation


def _can_write(sample: str) -> bool:
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            sample.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            return False
    return True


def reset() -> None:
    """Forget the loaded catalogue (the locale changed: tests)."""
    global _translation, _patterns
    _translation = None
    _patterns = None


def use_language(lang: str) -> None:
    """Use ``lang`` (``zh_CN``; ``C`` for English) whatever the locale says (the man page build)."""
    global _translation, _patterns
    _translation = gettext.NullTranslations() if lang in ("C", "POSIX", "en") else load([lang, lang.split("_")[0]])
    _patterns = None


def _(message: str) -> str:
    return translation().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation().ngettext(singular, plural, n)


def translated() -> bool:
    """Whether a catalogue (not English) is in use."""
    return type(translation()) is not gettext.NullTranslations


# --- English messages built elsewhere, translated when shown -------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)([sdr])|%%")
MAX_TRANSLATED = 20000  # longer texts (a hostile guest's file content inside a message) stay English
# a pattern: its literal pieces (one more than its parameters) and its parameters (name, conversion)
_Pattern = Tuple[List[str], List[Tuple[str, str]]]
_patterns = None  # type: Optional[List[Tuple[_Pattern, str]]]


def _compile(msgid: str) -> _Pattern:
    literals: List[str] = []
    params: List[Tuple[str, str]] = []
    current = ""
    pos = 0
    for m in _PLACEHOLDER.finditer(msgid):
        current += msgid[pos:m.start()]
        pos = m.end()
        if m.group(0) == "%%":
            current += "%"
            continue
        literals.append(current)
        params.append((m.group(1), m.group(2)))
        current = ""
    literals.append(current + msgid[pos:])
    return literals, params


def _match(pattern: _Pattern, text: str) -> Optional[Dict[str, str]]:
    """The parameters of ``text`` if it is made from ``pattern``: each literal piece is taken at its
    first place after the previous one (the last at the end), every parameter at least one
    character. Linear in the text, without backtracking, whatever the guest's files hold."""
    literals, params = pattern
    if not text.startswith(literals[0]):
        return None
    if not params:
        return {} if text == literals[0] else None
    values: Dict[str, str] = {}
    pos = len(literals[0])
    for index, (name, conversion) in enumerate(params):
        literal = literals[index + 1]
        if index == len(params) - 1:
            end = len(text) - len(literal)
            if end <= pos or not text.endswith(literal):
                return None
        elif not literal:
            return None  # two parameters side by side: no place to split
        else:
            end = text.find(literal, pos + 1)
            if end < 0:
                return None
        value = text[pos:end]
        if conversion == "d" and not value.lstrip("-").isdigit():
            return None
        values[name] = value
        pos = end + len(literal)
    return values


def _table() -> List[Tuple[_Pattern, str]]:
    global _patterns
    if _patterns is None:
        from .messages import HELP, MESSAGES, SEAL, WRAPPERS

        def compiled(msgids: List[str]) -> List[Tuple[_Pattern, str]]:
            out = [(_compile(msgid), msgid) for msgid in msgids if "%(" in msgid]
            # the most literal text first: "kernel %(k)s has no %(d)s driver" before "%(a)s; %(b)s"
            out.sort(key=lambda item: -len("".join(item[0][0])))
            return out

        _patterns = compiled(WRAPPERS) + compiled(MESSAGES + HELP + SEAL)
    return _patterns


def translate_message(text: str, _depth: int = 0) -> str:
    """``text`` (an English message made from one of the patterns in imsprep/messages.py) in the
    reader's language; its parameters are translated too where they are known messages. Unknown
    text comes back unchanged."""
    if not text or not translated() or _depth > 4 or len(text) > MAX_TRANSLATED:
        return text
    catalog = translation()
    exact = catalog.gettext(text)
    if exact != text:
        return exact
    for pattern, msgid in _table():
        values = _match(pattern, text)
        if values is None:
            continue
        target = catalog.gettext(msgid)
        if target == msgid:
            return text
        return _fill(target, {name: translate_message(value, _depth + 1) for name, value in values.items()})
    return text


def _fill(target: str, values: Dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda p: "%" if p.group(0) == "%%" else values[p.group(1)], target)


# --- the command line's help and argparse's own messages ----------------------------------------

ARGPARSE_MESSAGES = [  # argparse's own texts (its gettext domain is ours here), as Python 3.6 to 3.13 spell them
    N_("usage: "),
    N_("positional arguments"),
    N_("optional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("unrecognized arguments: %s"),
    N_("the following arguments are required: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("expected one argument"),
    N_("expected at least one argument"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid %(type)s value: %(value)r"),
]


def translate_parser(parser: argparse.ArgumentParser) -> None:
    """Show the parser's help (descriptions, option help, epilogs) and argparse's own messages in the
    reader's language: the English texts are written once, in cli.py, and looked up here."""
    if not translated():
        return
    argparse._ = _  # type: ignore[attr-defined]  # argparse looks its texts up through this name
    seen = set()

    def walk(p: argparse.ArgumentParser) -> None:
        if id(p) in seen:
            return
        seen.add(id(p))
        p.description = translate_message(p.description) if p.description else p.description
        p.epilog = translate_message(p.epilog) if p.epilog else p.epilog
        for group in p._action_groups:  # titled by argparse before its texts could be translated
            group.title = _(group.title) if group.title else group.title
        for action in p._actions:  # argparse offers no public iterator over its actions
            if action.help and action.help is not argparse.SUPPRESS:
                action.help = translate_message(action.help)
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if choice.help:
                        choice.help = translate_message(choice.help)
                for sub in action.choices.values():
                    walk(sub)

    walk(parser)


def error_line(message: str) -> str:
    """The one line a user error prints on stderr, in the reader's language."""
    return _("imsprep: error: %(message)s") % {"message": translate_message(message)} + "\n"
