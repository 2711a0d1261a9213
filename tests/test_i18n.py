"""Chinese (zh_CN) messages: the catalogue covers every message the source marks (extracted with
Babel, as a translator would), with the same placeholders; the command line speaks the locale's
language for reports, plans, errors and help, while codes, JSON keys and values stay English."""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO

SAMPLE = os.path.join(REPO, "examples", "sample-guest")
PO = os.path.join(REPO, "imsprep", "locale", "zh_CN", "LC_MESSAGES", "imsprep.po")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sdr]|\{\w*\}")
CJK = re.compile("[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # Han, CJK and full-width punctuation


def extracted_msgids():
    """The catalogue template, extracted from the source now with babel.cfg's mapping."""
    babel_extract = pytest.importorskip("babel.messages.extract")
    method_map = [("imsprep/**.py", "python"), ("templates/**.j2", "jinja2.ext:babel_extract")]
    options_map = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
    ids = set()
    for _filename, _lineno, message, _comments, _context in babel_extract.extract_from_dir(
            REPO, method_map, options_map, keywords=babel_extract.DEFAULT_KEYWORDS):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def read_catalogue():
    pofile = pytest.importorskip("babel.messages.pofile")
    with open(PO, "rb") as fh:
        return pofile.read_po(fh)


def zh_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    # PYTHONIOENCODING: Python 3.6 where zh_CN.UTF-8 is not installed would write ASCII, and imsprep
    # then speaks English rather than fail (a locale that exists gives UTF-8 by itself)
    env.update(PYTHONPATH=REPO, NO_COLOR="1", LANG="zh_CN.UTF-8", IMSPREP_CONFIG="/nonexistent", PYTHONIOENCODING="utf-8",
               IMSPREP_REPORT_DIR=os.environ.get("IMSPREP_REPORT_DIR", "/tmp/imsprep-test-reports"))
    env.update(extra)
    return env


def run(args, env):
    return subprocess.run([sys.executable, "-m", "imsprep"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=600, cwd=REPO)


def english_env():
    return zh_env(LANG="C.UTF-8")


def test_the_source_has_messages_to_translate():
    ids = extracted_msgids()
    # the report, the plan, argparse's own texts, the finding patterns, the man page
    for msgid in ("NOT READY", "cannot fix: %(problem)s", "usage: ", "XEN names disks xvdX; on KVM the same disk is vdX", "EXIT STATUS"):
        assert msgid in ids, msgid
    assert len(ids) > 300


def test_every_extracted_message_has_a_zh_CN_translation_with_the_same_placeholders():
    catalog = read_catalogue()
    ids = extracted_msgids()
    problems = []
    for msgid in sorted(ids):
        message = catalog.get(msgid)
        if message is None:
            problems.append("no entry: %r" % msgid)
            continue
        if not message.string or message.fuzzy:
            problems.append("untranslated or fuzzy: %r" % msgid)
            continue
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(message.string)):
            problems.append("placeholders differ: %r -> %r" % (msgid, message.string))
        if msgid.endswith("\n") != message.string.endswith("\n"):
            problems.append("trailing newline differs: %r" % msgid)
        words = re.search("[A-Za-z]", PLACEHOLDER.sub("", msgid))  # "- %(step)s" has none to translate
        if words and not CJK.search(message.string) and msgid not in (" [y/N] ",):
            problems.append("not Chinese: %r -> %r" % (msgid, message.string))
    stale = sorted(m.id for m in catalog if m.id and m.id not in ids)
    assert not problems, "\n".join(problems)
    assert not stale, "in the catalogue but no longer in the source (pybabel update): %r" % stale


def test_positional_placeholders_are_used_only_in_argparse_texts():
    """Chinese puts words in another order: imsprep's own messages name their parameters."""
    from imsprep.i18n import ARGPARSE_MESSAGES

    positional = [m for m in extracted_msgids() if re.search(r"%[sdr]", m) and m not in ARGPARSE_MESSAGES]
    assert positional == []


def test_the_runtime_po_reader_agrees_with_babel():
    """Where no .mo was built (a source checkout), imsprep compiles the .po itself: same catalogue."""
    from imsprep import i18n

    catalog = read_catalogue()
    with open(PO, encoding="utf-8") as fh:
        ours = i18n.parse_po(fh.read())
    theirs = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    assert {k: v for k, v in ours.items() if k} == theirs
    # and the .mo written from it is one gettext reads
    import gettext
    import io

    translations = gettext.GNUTranslations(io.BytesIO(i18n.mo_bytes(ours)))
    assert translations.gettext("NOT READY") == "未就绪"
    assert translations.info()["language"] == "zh_CN"


def test_po_reader_skips_fuzzy_and_untranslated_entries():
    from imsprep import i18n

    text = ('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
            '#, fuzzy\nmsgid "a"\nmsgstr "甲"\n\nmsgid "b"\nmsgstr ""\n\n'
            'msgid "c"\n"d"\nmsgstr "丙"\n"丁"\n\n#, python-format\nmsgid "e %(x)s"\nmsgstr "戊 %(x)s"\n')
    catalog = i18n.parse_po(text)
    assert catalog == {"": "Content-Type: text/plain; charset=utf-8\n", "cd": "丙丁", "e %(x)s": "戊 %(x)s"}


@pytest.mark.parametrize("env, expected", [
    ({"LANG": "zh_CN.UTF-8"}, ["zh_CN", "zh"]),
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "C"}, []),
    ({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, ["zh_CN", "zh"]),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C.UTF-8"}, []),
    ({"LC_ALL": "zh_CN.GB18030"}, ["zh_CN", "zh"]),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, ["zh_CN", "zh", "en"]),
    ({}, []),
])
def test_the_language_comes_from_the_locale_as_gettext_chooses_it(monkeypatch, env, expected):
    from imsprep import i18n

    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert i18n.languages() == expected


@pytest.fixture
def chinese():
    from imsprep import i18n

    i18n.use_language("zh_CN")
    yield i18n
    i18n.reset()


def test_messages_built_in_english_are_shown_in_chinese_with_their_parameters(chinese):
    message = ("initramfs /boot/initrd.img-6.1 of kernel 6.1 lacks KVM module(s): virtio, virtio_blk (needed for virtio_blk)"
               " (not the default boot kernel)")
    assert chinese.translate_message(message) == (
        "内核 6.1 的 initramfs /boot/initrd.img-6.1 缺少 KVM 模块：virtio, virtio_blk（virtio_blk 需要）（非默认启动内核）")
    # a remedy inside a remedy
    assert chinese.translate_message("add virtio to /etc/initramfs-tools/modules, one per line, then rebuild: update-initramfs -u -k 6.1") \
        == "将 virtio 添加到 /etc/initramfs-tools/modules，每行一个，然后重新生成：update-initramfs -u -k 6.1"
    # unknown text (a future message, a file's content) is left as it is
    assert chinese.translate_message("something imsprep does not know: 42") == "something imsprep does not know: 42"


def test_hostile_text_inside_a_message_costs_linear_time(chinese):
    """A guest's file content ends up inside messages; matching never backtracks over it."""
    import time

    junk = "x: 'a' (b): c, d (needed for e); of kernel " * 400
    message = "/etc/modprobe.d/x.conf:3 blacklists virtio_blk: '%s'" % junk
    start = time.time()
    for _ in range(20):
        shown = chinese.translate_message(message)
        chinese.translate_message(junk)
    assert time.time() - start < 5
    assert shown.startswith("/etc/modprobe.d/x.conf:3 将 virtio_blk 列入黑名单：'x: ")
    assert chinese.translate_message("y" * 30000) == "y" * 30000


def test_every_message_of_the_sample_guest_report_and_plan_has_a_pattern(chinese):
    """The patterns in imsprep/messages.py follow the English where it is built: a reworded message
    shows up here before a reader meets it in English."""
    env = english_env()
    report = json.loads(run(["check", "--root", SAMPLE, "--format", "json"], env).stdout)
    texts = [f["message"] for f in report["findings"]] + [f["remediation"] for f in report["findings"] if f["remediation"]]
    texts += [report["platform"]["firmware_evidence"]] + report["platform"]["evidence"]
    fix = json.loads(run(["fix", "--dry-run", "--root", SAMPLE, "--format", "json"], env).stdout)
    texts += [a["summary"] for a in fix["plan"]["actions"]] + fix["plan"]["problems"] + fix["plan"]["notes"]
    untranslated = [t for t in texts if not CJK.search(chinese.translate_message(t))]
    assert texts and not untranslated


def test_every_help_text_is_translated(chinese):
    import argparse

    from imsprep.cli import build_parser

    def texts(parser):
        out = [parser.description, parser.epilog]
        for action in parser._actions:
            if action.help is not argparse.SUPPRESS:
                out.append(action.help)
            if isinstance(action, argparse._SubParsersAction):
                out += [c.help for c in action._choices_actions]
                for sub in action.choices.values():
                    out += texts(sub)
        return [t for t in out if t]

    untranslated = [t for t in texts(build_parser()) if not CJK.search(t)]
    assert untranslated == []


def test_check_speaks_chinese_under_a_chinese_locale_with_the_same_exit_code():
    english = run(["check", "--root", SAMPLE], english_env())
    chinese = run(["check", "--root", SAMPLE], zh_env())
    assert english.returncode == chinese.returncode == 1, chinese.stderr
    assert "NOT READY" in english.stdout
    out = chinese.stdout
    for text in ("未就绪", "检查结果", "内核", "IMS 镜像属性", "缺少 KVM 模块", "修复：", "[错误]"):
        assert text in out, text
    for english_text in ("NOT READY", "Findings", "lacks", "names disks", " fix: "):
        assert english_text not in out, english_text
    # codes and names stay as they are
    for code in ("DRIVER_NOT_IN_INITRAMFS", "DEVICE_NAME_UNSTABLE", "__support_kvm" if "__support_kvm" in english.stdout else "hw_firmware_type",
                 "virtio_blk", "initramfs", "UUID="):
        assert code in out, code


def test_json_output_is_never_translated():
    english = run(["check", "--root", SAMPLE, "--format", "json"], english_env())
    chinese = run(["check", "--root", SAMPLE, "--format", "json"], zh_env())
    assert english.returncode == chinese.returncode == 1
    assert json.loads(chinese.stdout) == json.loads(english.stdout)
    assert not CJK.search(chinese.stdout)


def test_english_when_the_terminal_cannot_show_chinese():
    proc = run(["check", "--root", SAMPLE], zh_env(PYTHONIOENCODING="ascii"))
    assert proc.returncode == 1 and "NOT READY" in proc.stdout and proc.stderr == ""


def test_lc_all_c_overrides_a_chinese_lang():
    proc = run(["check", "--root", SAMPLE], zh_env(LC_ALL="C.UTF-8"))
    assert proc.returncode == 1 and "NOT READY" in proc.stdout and not CJK.search(proc.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="fix runs as root only")
def test_fix_dry_run_plan_in_chinese():
    english = run(["fix", "--dry-run", "--root", SAMPLE], english_env())
    chinese = run(["fix", "--dry-run", "--root", SAMPLE], zh_env())
    assert english.returncode == chinese.returncode, chinese.stderr
    out = chinese.stdout
    for text in ("修复计划", "（目标：KVM, XEN）", "1. 编辑 /etc/initramfs-tools/modules：", "对应：DRIVERS_NOT_PERSISTENT",
                 "无法修复：/etc/fstab:2：/dev/xvda1 保持不变", "说明：MODULES=dep", "试运行：未做任何更改"):
        assert text in out, text
    # the diff is the file's content: never translated
    assert "+# BEGIN imsprep" in out and "+virtio_blk" in out
    assert "dry run" not in out and "cannot fix" not in out


def test_usage_errors_in_chinese_exit_2():
    proc = run(["check", "--no-such-option"], zh_env())
    assert proc.returncode == 2
    assert "错误" in proc.stderr and "无法识别的参数：--no-such-option" in proc.stderr and "用法：" in proc.stderr
    proc = run(["check", "--root", "/nonexistent/guest"], zh_env())
    assert proc.returncode == 2
    assert proc.stderr == "imsprep: 错误：--root /nonexistent/guest：目录不存在\n"
    proc = run(["check", "--target", "arm"], zh_env())
    assert proc.returncode == 2 and "无效的选择：'arm'" in proc.stderr


def test_help_in_chinese():
    proc = run(["check", "--help"], zh_env())
    assert proc.returncode == 0
    assert proc.stdout.startswith("用法：imsprep check")
    assert "在不做任何更改的情况下，检查本客户机" in proc.stdout and "退出码：" in proc.stdout
    assert "--no-cache" in proc.stdout and "show this help" not in proc.stdout
    assert "\n选项:\n" in proc.stdout or "\n可选参数:\n" in proc.stdout  # argparse adds the colon
    top = run(["--help"], zh_env())
    assert "位置参数:" in top.stdout and "positional arguments" not in top.stdout


def test_zh_CN_man_page():
    proc = subprocess.run([sys.executable, "-m", "imsprep.manpage", "--lang", "zh_CN"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=english_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    page = proc.stdout.decode("utf-8")
    for text in (".SH 名称", ".SH 退出状态", ".SH 环境变量", ".SH 文件", ".SH 另请参阅", "镜像", "\\fB\\-\\-no\\-cache\\fR"):
        assert text in page, text
    english = subprocess.run([sys.executable, "-m", "imsprep.manpage", "--lang", "C"], stdout=subprocess.PIPE, env=zh_env(), cwd=REPO)
    assert b".SH EXIT STATUS" in english.stdout and not CJK.search(english.stdout.decode("utf-8"))


def test_seal_plan_items_in_chinese_and_unchanged_in_english(tmp_path):
    root = tmp_path / "guest"
    for path, content in (("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'), ("var/log/syslog", "log\n"),
                          ("var/log/syslog.1", "old\n"), ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
                          ("etc/ssh/ssh_host_rsa_key", "key\n"), ("var/tmp/x/f", "t\n")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)
    english = run(["seal", "--root", str(root), "--dry-run"], english_env())
    chinese = run(["seal", "--root", str(root), "--dry-run"], zh_env())
    assert english.returncode == chinese.returncode == 0, chinese.stderr
    for text in ("remove    /var/log/syslog.1  (rotated)", "empty     /var/log/syslog",
                 "note      /etc/ssh/ssh_host_rsa_key  (kept)", "remove    /var/tmp/x/ (directory, 1 file(s))",
                 "empty     /etc/machine-id  (emptied, not deleted: an empty file makes systemd generate a new id at boot)"):
        assert text in english.stdout, text
    for text in ("删除  /var/log/syslog.1  (已轮转)", "清空  /var/log/syslog", "说明  /etc/ssh/ssh_host_rsa_key  (保留)",
                 "删除  /var/tmp/x/（目录，1 个文件）", "清空  /etc/machine-id  (清空而不删除", "未找到 SSH 服务单元"):
        assert text in chinese.stdout, text
    for word in ("remove ", "empty ", "(rotated)", "(kept)", "no SSH server unit found"):
        assert word not in chinese.stdout, word
    listing = run(["seal", "--list"], zh_env()).stdout
    assert "SSH 主机密钥" in listing and "SSH host keys" not in listing
