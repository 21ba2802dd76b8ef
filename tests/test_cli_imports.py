"""What the command line imports: `slowatch --help` and `slowatch check` start without the daemon's libraries.

Importing aiohttp, prometheus-client, sqlite-utils, the scheduler and the generators cost ~0.7 CPU-s per
command before any command ran (benchmarks/README.md, "Command-line start-up"); each command now imports
what it uses. Measured in a fresh interpreter (a subprocess), as a user runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slowatch import annotate_cli, lock_wait
from slowatch.store import annotations, one_write

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config" / "slowatch.yaml")

RUN = """
import json, sys
from slowatch.__main__ import main
sys.argv = ["slowatch", *json.loads(sys.argv[1])]
try:
    code = main()
except SystemExit as e:
    code = e.code
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
sys.exit(code or 0)
"""

DAEMON_ONLY = (
    "aiohttp",
    "prometheus_client",
    "sqlite_utils",
    "apscheduler",
    "grpc",
    "grafana_foundation_sdk",
    "uvloop",
)
"""Top-level packages no command below needs: the probes, /metrics, the store, the scheduler, the generators."""
CONFIG_TREE = ("pydantic", "yaml", "dns", "cryptography")
"""What loading a config needs: `--help` loads none."""


def imported(*args: str) -> tuple[int, str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(args)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    out, _, modules = proc.stdout.rpartition("\nMODULES ")
    return proc.returncode, out + proc.stderr, {m.partition(".")[0] for m in json.loads(modules)}


@pytest.mark.parametrize("command", [["--help"], ["report", "--help"], ["annotate", "--help"]])
def test_help_imports_no_daemon_library_and_no_config(command: list[str]) -> None:
    code, out, top = imported(*command)
    assert code == 0, out
    assert "usage: slowatch" in out
    assert sorted(top & {*DAEMON_ONLY, *CONFIG_TREE}) == []


@pytest.mark.parametrize("command", [["check", CONFIG], ["shard", "-c", CONFIG, "--shards", "2"]])
def test_config_commands_import_no_daemon_library(command: list[str]) -> None:
    code, out, top = imported(*command)
    assert code == 0, out
    assert "pydantic" in top  # (the config was loaded: the test sees a real run)
    assert sorted(top & set(DAEMON_ONLY)) == []


def test_the_parsers_copies_of_store_constants_are_the_stores() -> None:
    """The parser takes these from store-free modules; the store keeps its own (store/one_write.py)."""
    assert (lock_wait.CLI_WAIT, lock_wait.LOCK_WAIT_HELP) == (one_write.CLI_WAIT, one_write.LOCK_WAIT_HELP)
    assert annotate_cli.KINDS == annotations.KINDS
