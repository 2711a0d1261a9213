"""Shell completion generated from the parser (python3 -m imsprep.completion bash|zsh), loaded into a
real bash the way bash-completion does, and asked what a user's <TAB> gets."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

from imsprep.cli import build_parser

pytest.importorskip("shtab", reason="shtab (test extra; python3-shtab for the packages) generates the scripts")
pytestmark = pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")


def generate(shell, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "imsprep.completion", shell], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / ("imsprep." + shell)
    path.write_text(proc.stdout)
    return str(path)


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory):
    return generate("bash", tmp_path_factory.mktemp("completion"))


# what bash does on <TAB>: COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT set, the registered function
# called with the command, the current word and the previous one; it leaves its answer in COMPREPLY
QUERY = r"""
source "$1"
spec=$(complete -p imsprep) || exit 10
echo "SPEC $spec"
func=$(echo "$spec" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$func" imsprep "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
for word in "${COMPREPLY[@]}"; do echo "WORD $word"; done
"""


def complete(script, *words, cwd=None):
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", QUERY, "query", script] + list(words),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=cwd,
                          env={"PATH": os.environ["PATH"], "HOME": "/nonexistent", "LC_ALL": "C"})
    assert proc.returncode == 0 and proc.stderr == "", (proc.returncode, proc.stderr)
    spec = [line[5:] for line in proc.stdout.splitlines() if line.startswith("SPEC ")]
    words = [line[5:] for line in proc.stdout.splitlines() if line.startswith("WORD ")]
    return spec[0], sorted(w.strip() for w in words)


def test_bash_registers_the_completion(bash_script):
    spec, _ = complete(bash_script, "imsprep", "")
    assert re.search(r"-F \S+ imsprep$", spec), spec


def test_bash_completes_subcommands_and_options(bash_script):
    assert complete(bash_script, "imsprep", "ch")[1] == ["check"]
    assert complete(bash_script, "imsprep", "")[1] == ["check", "fix", "rollback", "seal"]
    assert complete(bash_script, "imsprep", "check", "--fo")[1] == ["--format"]
    assert complete(bash_script, "imsprep", "fix", "--dr")[1] == ["--dry-run"]
    assert complete(bash_script, "imsprep", "check", "--format", "")[1] == ["json", "text"]
    assert complete(bash_script, "imsprep", "fix", "--target", "x")[1] == ["xen"]
    assert complete(bash_script, "imsprep", "rollback", "--color", "n")[1] == ["never"]
    # global options also before the subcommand
    assert complete(bash_script, "imsprep", "--co")[1] == ["--color"]


def test_bash_offers_every_option_of_every_subcommand(bash_script):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        expected = sorted(o for a in command._actions for o in a.option_strings if o.startswith("--"))
        assert complete(bash_script, "imsprep", name, "--")[1] == expected, name


def test_bash_completes_directories_for_root(bash_script, tmp_path):
    (tmp_path / "guest-a").mkdir()
    (tmp_path / "guest-b.img").write_text("")
    assert complete(bash_script, "imsprep", "check", "--root", "gue", cwd=str(tmp_path))[1] == ["guest-a"]
    assert complete(bash_script, "imsprep", "check", "--image", "guest-b", cwd=str(tmp_path))[1] == ["guest-b.img"]


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh not installed")
def test_zsh_script_loads_and_registers(tmp_path):
    script = generate("zsh", tmp_path)
    with open(script) as fh:
        text = fh.read()
    assert text.startswith("#compdef imsprep")
    functions = tmp_path / "functions"
    functions.mkdir()
    shutil.copy(script, str(functions / "_imsprep"))
    # compinit reads #compdef lines from fpath, as with /usr/share/zsh/vendor-completions
    proc = subprocess.run(["zsh", "-f", "-c", "fpath=(%s $fpath); autoload -U compinit; compinit -u -D; "
                           "print -r -- ${_comps[imsprep]}; autoload +X _imsprep" % functions],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == "_imsprep"
    for option in ("--format", "--color", "--dry-run", "--no-cache", "--log-file"):
        assert option in text
