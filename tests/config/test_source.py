"""The config file itself (issue #10): no FIFOs, devices, directories or oversized files, checked
before reading, in `check`, `run` and the loaders (reload: tests/test_reload.py)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from slowatch.cli import main
from slowatch.config import load
from slowatch.config.isolated import load_isolated
from slowatch.errors import ConfigError

GOOD = "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:1/'}\n"
LIMIT = 64 << 20  # the documented limit (README, slowatch.config.source.LIMIT)
NOT_REGULAR = "not a regular file: point --config at the YAML file itself"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # the old code read /dev/zero until MemoryError


def check_in_a_process(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slowatch", "check", str(path)],
        capture_output=True, text=True, timeout=20, preexec_fn=_limit_memory, check=False,
    )  # fmt: skip


def test_a_symlink_to_dev_zero_is_refused_before_reading(tmp_path: Path) -> None:
    link = tmp_path / "slowatch.yaml"
    link.symlink_to("/dev/zero")
    proc = check_in_a_process(link)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"{link}: is a character device, {NOT_REGULAR}", f"{link}: 1 error(s)"]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "slowatch.yaml"
    os.mkfifo(fifo)
    proc = check_in_a_process(fifo)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == f"{fifo}: is a FIFO (named pipe), {NOT_REGULAR}"


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"{tmp_path}: is a directory, {NOT_REGULAR}"


def test_a_file_over_the_limit_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "slowatch.yaml"
    with open(big, "wb") as f:
        f.truncate(LIMIT + 1)  # sparse: nothing is written, and nothing may be read
    expected = f"{big}: the file is 64.0 MiB; config files are limited to 64 MiB (is this the right file?)"
    before = read_bytes()
    for loader in (load, load_isolated):
        with pytest.raises(ConfigError) as info:
            loader(big)
        assert [str(p) for p in info.value.problems] == [expected]
    assert main(["run", "--config", str(big)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == expected
    assert read_bytes() - before < LIMIT // 16  # this process read none of it (not a timing: CI runs under load)


def read_bytes() -> int:
    """Bytes this process has read by read() calls (/proc/self/io `rchar`)."""
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(GOOD + "#" * (LIMIT - len(GOOD) - 1) + "\n")
    assert path.stat().st_size == LIMIT
    assert load(path).endpoints[0].name == "a"


def test_run_reports_nan_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(GOOD.replace("}", ", interval: .nan}"))
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[0].startswith(f"{path}:2:65 endpoints[0].interval: must be a finite duration")


def test_the_watcher_fingerprint_never_reads_what_it_would_refuse(tmp_path: Path) -> None:
    from slowatch.config.source import MAX_CONFIG_BYTES, fingerprint

    assert MAX_CONFIG_BYTES == LIMIT
    path = tmp_path / "slowatch.yaml"
    path.write_text(GOOD)
    first = fingerprint(path)
    assert len(first) == 64
    path.unlink()
    path.symlink_to("/dev/zero")
    assert (fingerprint(path) or "").startswith("refused:")
    assert fingerprint(tmp_path / "missing.yaml") == "unreadable:ENOENT"
