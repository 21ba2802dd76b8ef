"""tests/conftest.py `cyclic_gc`: a test that tunes the cyclic GC the way a daemon run in-process does (`gc.freeze()`,
`process.GC_THRESHOLDS`) leaves the GC as it found it, and what it leaked is reported at its own teardown.

Run in a pytest of its own (a subprocess with this suite's conftest as a plugin), since the point is what one test
leaves to the next in the same process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INNER = """
import gc
import socket

from slowatch.process import GC_THRESHOLDS

START = gc.get_threshold()


def tune_like_the_daemon() -> None:
    gc.freeze()  # (Daemon.start, the first round of probes, a reload)
    gc.set_threshold(*GC_THRESHOLDS)  # (process.tune, Daemon.start)


def test_a_daemon_tunes_the_gc() -> None:
    tune_like_the_daemon()


def test_a_leak_frozen_by_the_tuning() -> None:
    leaked = [socket.socket()]
    leaked.append(leaked)  # a cycle: only the cyclic GC frees it (and says "unclosed socket")
    del leaked
    tune_like_the_daemon()


def test_the_next_test_finds_the_gc_as_it_was() -> None:
    assert (gc.get_threshold(), gc.get_freeze_count()) == (START, 0)
"""


def test_a_test_tuning_the_gc_leaves_it_as_it_was_and_answers_for_its_leaks(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    pytest_args = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "tests.conftest"]
    pytest_args += ["-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rA", "--tb=line"]
    pytest_args.append(str(tmp_path / "test_inner.py"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = run.stdout.splitlines()
    outcomes = sorted(
        (line.split("::")[1].split()[0], line.split()[0])
        for line in lines
        if line.startswith(("PASSED ", "FAILED ", "ERROR "))
    )
    assert outcomes == [
        ("test_a_daemon_tunes_the_gc", "PASSED"),
        ("test_a_leak_frozen_by_the_tuning", "ERROR"),  # at its teardown: the unclosed socket
        ("test_a_leak_frozen_by_the_tuning", "PASSED"),
        ("test_the_next_test_finds_the_gc_as_it_was", "PASSED"),
    ], run.stdout + run.stderr
    assert "unclosed <socket.socket" in run.stdout, run.stdout
