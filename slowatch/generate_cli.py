"""`slowatch generate <target>` and `slowatch import openslo`: files made from a config, and config made from
other tools' files. Their parsers, and the commands, which print like the rest of cli.py (split from it: the
generators and importers themselves live in slowatch/generate/).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slowatch.config import Config

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
"""The same exit codes as cli.py's."""

Load = Callable[[str], "Config | None"]
"""Loads a config file, printing its problems (None: invalid): cli.py's."""


def write(path: str, text: str, *, parents: bool = False) -> int:
    """Write `text` to the file `path` (with `parents`, its missing directories first) and say so on stderr."""
    try:
        if parents:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"{path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def emit(text: str, output: str | None) -> int:
    """Write `text` to the file `output`, or standard output if None."""
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    return write(output, text)


def run_import_openslo(args: argparse.Namespace) -> int:
    from slowatch.generate.openslo_import import import_files, render

    result = import_files(args.files)
    for note in sorted(result.notes, key=lambda p: p.key):
        print(f"note: {note}", file=sys.stderr)
    for problem in sorted(result.problems, key=lambda p: p.key):
        print(problem, file=sys.stderr)
    if result.problems:
        print(f"{len(result.problems)} error(s): nothing imported", file=sys.stderr)
        return EXIT_CONFIG
    return emit(render(result, args.files), args.output)


def run_generate(args: argparse.Namespace, load: Load) -> int:
    from slowatch.generate.cli import TARGETS

    config = load(args.config)
    if config is None:
        return EXIT_CONFIG
    for path, text in TARGETS[args.target].write(config, args.config, args.output):
        if path == "-":
            sys.stdout.write(text)
        elif (code := write(path, text, parents=True)) != EXIT_OK:
            return code
    return EXIT_OK


def add_generate_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: Load) -> None:
    """`generate <target>` (one sub-command per generate.cli.TARGETS entry) and `import openslo`."""
    from slowatch.generate.cli import TARGETS

    generate = sub.add_parser("generate", help="generate Prometheus rules, Grafana dashboards, ... from a config")
    targets = generate.add_subparsers(dest="target", required=True)
    for name, target in TARGETS.items():
        p = targets.add_parser(name, help=target.help)
        p.add_argument("--config", "-c", required=True, help="YAML config file")
        default = "" if target.needs_output else " (default: stdout)"
        p.add_argument("--output", "-o", metavar=target.output, required=target.needs_output,
                       help=f"write to this {target.output}{default}")  # fmt: skip
        p.set_defaults(func=lambda args: run_generate(args, load))

    import_ = sub.add_parser("import", help="turn other tools' files into slowatch config")
    import_sub = import_.add_subparsers(dest="import_", required=True)
    openslo_in = import_sub.add_parser("openslo", help="OpenSLO SLOs over slowatch endpoints -> a consumers: block")
    openslo_in.add_argument("files", nargs="+", metavar="FILE")
    openslo_in.add_argument("--output", "-o", help="file to write (default: standard output)")
    openslo_in.set_defaults(func=run_import_openslo)


__all__ = ["add_generate_commands", "emit", "run_generate", "run_import_openslo", "write"]
