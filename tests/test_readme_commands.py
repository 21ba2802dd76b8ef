"""Every `slowatch ...` command line in the README's shell examples is one the command line accepts.

The README is where a new user copies commands from: a renamed flag, a command that moved or a value
the parser refuses must fail here, not at the user's terminal. Each line of a ```sh or ```console block
that runs `slowatch` (after `$ `, an environment assignment or `||`/`;`) is parsed with the real
parser; a `[--a x | --b y]` choice is read as its first alternative, and what follows `#`, `>` or `|`
is left out. The commands are not run (they name files and daemons of the examples).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from slowatch.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(?:sh|console)\n(.*?)^```", re.M | re.S)
COMMAND = re.compile(r"(?:^|[;&|] *|^(?:[A-Z_]+=\S+ )+)slowatch (.*)$")


def command_lines() -> list[tuple[int, str]]:
    """(README line, the arguments after `slowatch`) for every command in a shell example."""
    text = README.read_text(encoding="utf-8")
    found = []
    for block in BLOCK.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        pending, start = "", first
        for offset, line in enumerate(block.group(1).split("\n")):
            if not pending:
                start = first + offset
            pending = f"{pending} {line.strip()}" if pending else line
            if pending.endswith("\\"):  # a continued line
                pending = pending[:-1]
                continue
            command = pending.split(" #")[0].strip().removeprefix("$ ")
            pending = ""
            if match := COMMAND.search(command):
                args = re.split(r" \|\| | > | \| (?![^\[]*\])", match.group(1))[0]
                found.append((start, re.sub(r"\[(--[^|\]]+?)(?: \|[^\]]*)?\]", r"\1", args)))
    return found


def test_the_readme_has_commands() -> None:
    assert len(command_lines()) >= 30  # a changed fence or pattern must not skip them all


@pytest.mark.parametrize(("line", "args"), command_lines(), ids=[f"README.md:{n}" for n, _ in command_lines()])
def test_a_readme_command_parses(line: int, args: str) -> None:
    parser = build_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = parser.parse_args(shlex.split(args))
    except SystemExit as exit_:
        assert exit_.code == 0 and args == "--version", f"README.md:{line}: slowatch {args}\n{stderr.getvalue()}"
        return
    assert isinstance(parsed, argparse.Namespace) and parsed.func is not None
