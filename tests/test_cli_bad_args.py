"""Out-of-range option values are a usage error naming the option (exit 2), never a traceback: each of these
ended in an OverflowError or ValueError traceback, exit 1, found by running every command with edge values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli

CONFIG = """\
server: {database: ./slowatch.db}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 10s}
consumers:
  - {name: shop, endpoints: [api], slos: [{name: up, sli: availability, objective: 99}]}
"""

CASES = {
    "alerts --limit": (("alerts", "-c", "slowatch.yaml", "--limit", "99999999999999999999"), "argument --limit"),
    "alerts --limit -1": (("alerts", "-c", "slowatch.yaml", "--limit", "-1"), "argument --limit"),
    "demo --demo-port": (("demo", "-c", "slowatch.yaml", "--demo-port", "99999", "--duration", "1"), "--demo-port"),
    "demo --duration": (("demo", "-c", "slowatch.yaml", "--duration", "-1"), "argument --duration"),
    "demo --duration nan": (("demo", "-c", "slowatch.yaml", "--duration", "nan"), "argument --duration"),
    "report --window": (("report", "-c", "slowatch.yaml", "--window", "99999999999d"), "argument --window"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_an_out_of_range_value_is_a_usage_error(tmp_path: Path, case: str) -> None:
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out, _ = await run_cli("run", "-c", "slowatch.yaml", "--once", cwd=tmp_path, merged=True)
    assert code in (0, 1), out  # (a database with the tables: the value, not a missing file, is the problem)
    argv, named = CASES[case]

    code, out, err = await run_cli(*argv, cwd=tmp_path)

    assert "Traceback" not in err, err
    assert (code, out) == (2, ""), (code, out, err)
    assert named in err.strip().splitlines()[-1], err


@pytest.mark.parametrize(
    "argv",
    [("shard", "-c", "slowatch.yaml", "--shards", "2"), ("generate", "prometheus-rules", "-c", "slowatch.yaml")],
)
def test_a_closed_standard_output_is_no_traceback(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """`slowatch gate --format json | head -1` (any command whose reader exits first) ended in a BrokenPipeError
    traceback on stderr. The reading end is closed before the command starts: every write fails."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "slowatch", *argv], cwd=tmp_path, stdout=write, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err


@pytest.mark.parametrize(
    ("value", "message"),
    [('"a\\0b.db"', "must not contain a NUL byte"), ("/", "is a directory (got '/')")],
)
async def test_a_database_path_that_cannot_be_a_sqlite_file_fails_check_and_run_located(
    tmp_path: Path, value: str, message: str
) -> None:
    """`check` said OK, and `run` exited 1 with "cannot open database a\\u0000b.db: embedded null byte" or
    "database / has 21 names (hard links)": no file, line or field. Now both exit 2 naming them."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG.replace("./slowatch.db", value))
    for argv in (("check", "slowatch.yaml"), ("run", "-c", "slowatch.yaml", "--once")):
        code, out, err = await run_cli(*argv, cwd=tmp_path)
        assert code == 2, (argv, code, out, err)
        assert f"slowatch.yaml:1:20 server.database: {message}" in err, (argv, err)
        assert "Traceback" not in err, err
    (tmp_path / "good.yaml").write_text(CONFIG)
    code, _, err = await run_cli("run", "-c", "good.yaml", "--once", "--db", str(tmp_path), cwd=tmp_path)
    assert code == 2 and f"--db: is a directory (got {str(tmp_path)!r})" in err, (code, err)


@pytest.mark.parametrize(
    "argv",
    [("alerts",), ("silence", "--endpoint", "api", "--until", "2099-01-01T00:00Z", "--reason", "x"),
     ("demo", "--duration", "1")],
)  # fmt: skip
async def test_a_db_flag_naming_a_directory_is_a_usage_error(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """The other commands whose `--db` replaces `server.database` check it the same way: a ValueError traceback
    (exit 1) once `run`'s check refused a directory, and before it the store's misleading "21 names (hard links)"."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out, err = await run_cli(argv[0], "-c", "slowatch.yaml", *argv[1:], "--db", str(tmp_path), cwd=tmp_path)
    assert "Traceback" not in err, err
    assert code == 2 and f"slowatch {argv[0]}: --db: is a directory (got {str(tmp_path)!r})" in err, (code, out, err)


@pytest.mark.parametrize(
    "argv",
    [("report",), ("gate", "--consumer", "checkout"), ("correct", "--list"), ("annotate", "--note", "x")],
)
@pytest.mark.parametrize("db", ["{dir}", ""])
async def test_a_db_flag_of_the_store_reading_commands_that_is_no_file_is_a_usage_error(
    tmp_path: Path, argv: tuple[str, ...], db: str
) -> None:
    """report, gate, correct and annotate took `--db DIR` (or "") straight to the store: "unable to open database
    file", or a directory opened as an empty database; now argparse's usage error naming the flag (exit 2)."""
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out, err = await run_cli(argv[0], "-c", "slowatch.yaml", *argv[1:], "--db", db.format(dir=tmp_path),
                                   cwd=tmp_path)  # fmt: skip
    assert "Traceback" not in err, err
    said = "is a directory" in err or "must name the SQLite file" in err
    assert code == 2 and "error: argument --d" in err and "--db" in err and said, (
        code, out, err,
    )  # fmt: skip
