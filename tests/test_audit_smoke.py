"""The audit tools in scripts/ still run end to end, on a handful of cases (their full runs take minutes).

Each must exit 0 with its summary line: a renamed loader function, a changed CLI or log line, or a README
example harness that moved would otherwise rot them unseen.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_config_audit_runs_a_few_cases_and_the_cli() -> None:
    out = run("config_audit.py", "--limit", "40", "--cli", "2")
    summary = re.search(r"^(\d+) bases, 40 cases, CPU [\d.]+s: (.*)$", out, re.M)
    assert summary, out
    assert int(summary[1]) > 1  # the README's examples and config/slowatch.yaml
    assert "'cli-error': 2" in summary[2] or "'cli-ok'" in summary[2], out


@pytest.mark.slow
def test_reload_audit_holds_one_bad_edit_and_applies_the_good_one() -> None:
    out = run("reload_audit.py", "--limit", "1")
    assert re.search(r"^nan interval +held +\| F:\d+:\d+ defaults\.interval: ", out, re.M), out
    assert "traceback anywhere in the log: False; exit 0" in out
    assert out.rstrip().endswith("1 bad edits, 0 failures"), out
