"""Shell completion for bash and zsh, generated from the command line definition in cli.py:
``python3 -m imsprep.completion bash|zsh`` prints the script. Packages run this at build time
(shtab, https://github.com/iterative/shtab, is needed there only); imsprep itself never imports
this module, so guests need no shtab."""

import argparse
import sys

from .cli import build_parser

SHELLS = ("bash", "zsh")
# what the value of an option names, so the shell offers directories or files
DIRECTORY_OPTIONS = ("--root",)
FILE_OPTIONS = ("--image", "--log-file")


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:  # argparse offers no public iterator over its actions
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield from _parsers(command)


def script(shell: str) -> str:
    import shtab  # build time only

    parser = build_parser()
    for each in _parsers(parser):
        for action in each._actions:
            if any(o in DIRECTORY_OPTIONS for o in action.option_strings):
                action.complete = shtab.DIRECTORY
            elif any(o in FILE_OPTIONS for o in action.option_strings):
                action.complete = shtab.FILE
    return shtab.complete(parser, shell=shell)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in SHELLS:
        sys.stderr.write("usage: python3 -m imsprep.completion {%s}\n" % "|".join(SHELLS))
        return 2
    sys.stdout.write(script(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
