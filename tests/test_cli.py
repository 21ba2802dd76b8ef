"""The command line as an SRE uses it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from slowatch import __version__
from slowatch.cli import build_parser, main
from slowatch.config import Config, load
from slowatch.demo import run_demo
from slowatch.process import JsonFormatter
from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parent.parent


async def cli(*args: str) -> tuple[int, str, str]:
    """Run `python -m slowatch ARGS` without blocking the loop that serves the test targets."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slowatch", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_check_counts_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A first config of one endpoint read `OK (1 endpoints, 0 consumers)`."""
    one = write(tmp_path, "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:1/'}\n")
    assert main(["check", str(one)]) == 0
    assert capsys.readouterr().out == f"{one}: OK (1 endpoint, no consumers)\n"


def test_readers_of_a_database_the_daemon_has_not_made_yet_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report` and `gate --config` before any `slowatch run` read `cannot read SLO data from ./slowatch.db:
    unable to open database file`; `alerts` already said what it means."""
    config = write(
        tmp_path,
        "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:1/'}\n"
        "consumers:\n  - {name: shop, endpoints: [a], slos: [{name: up, sli: availability, objective: 99}]}\n",
    )
    missing = tmp_path / "never.db"
    expected = f"no database at {missing}: the daemon has not run yet (or --db names another file)\n"
    for command in (["report"], ["gate", "--consumer", "shop"], ["alerts"]):
        assert main([*command, "--config", str(config), "--db", str(missing)]) == (1 if command == ["alerts"] else 2)
        assert capsys.readouterr().err == expected, command
    assert not missing.exists()


def test_report_says_why_there_is_nothing_to_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A first config without consumers: `report` read `no SLO matches the given --consumer/--slo` (none was
    given) and `report --format html` `no consumer named None`; a mistyped --consumer named no known one."""
    endpoint = "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:1/'}\n"
    bare = write(tmp_path, endpoint)
    for fmt in ("table", "html"):
        assert main(["report", "--config", str(bare), "--format", fmt]) == 1
        assert capsys.readouterr().err == (
            f"{bare} defines no consumers: a report is of consumers' SLOs (see `consumers` in the README)\n"
        )
    shop = tmp_path / "shop.yaml"
    shop.write_text(
        endpoint
        + "consumers:\n  - {name: shop, endpoints: [a], slos: [{name: up, sli: availability, objective: 99}]}\n"
    )
    assert main(["report", "--config", str(shop), "--consumer", "shopp"]) == 1
    assert capsys.readouterr().err == "no consumer named 'shopp' (did you mean 'shop'?)\n"


def test_commands_suggest_a_mistyped_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gate`, `silence`, `correct` and `annotate` said `unknown consumer 'shopp'` with no hint, where the config
    loader, `report` and the API suggest the close name."""
    config = write(
        tmp_path,
        "server: {database: '" + str(tmp_path / "s.db") + "'}\n"
        "endpoints:\n  - {name: payments-api, kind: http, url: 'http://127.0.0.1:1/'}\n"
        "consumers:\n  - {name: shop, endpoints: [payments-api],"
        " slos: [{name: up, sli: availability, objective: 99}]}\n",
    )
    c = ["--config", str(config)]
    for argv in (
        ["gate", *c, "--consumer", "shopp"],
        ["silence", *c, "--consumer", "shopp", "--until", "2099-01-01T00:00Z"],
        [
            "correct",
            *c,
            "--consumer",
            "shopp",
            "--from",
            "2026-01-01T00:00Z",
            "--to",
            "2026-01-01T01:00Z",
            "--reason",
            "x",
        ],
        ["annotate", *c, "--kind", "note", "--text", "x", "--consumer", "shopp"],
    ):
        assert main(argv) == 2, argv
        assert "'shopp' (did you mean 'shop'?)" in capsys.readouterr().err, argv
    assert main(["silence", *c, "--endpoint", "payment-api", "--until", "2099-01-01T00:00Z"]) == 2
    assert "'payment-api' (did you mean 'payments-api'?)" in capsys.readouterr().err


def test_check_valid_and_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ROOT / "config" / "slowatch.yaml")]) == 0
    assert "OK (7 endpoints" in capsys.readouterr().out

    bad = write(
        tmp_path,
        "endpoints:\n  - name: a\n    kind: http\n    url: http://x/\n    interval: 0s\n"
        "consumers:\n  - name: c\n    endpoints: [a]\n    colour: blue\n",
    )
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5:15 endpoints[0].interval: must be at least 1s (got '0s')" in err
    assert f"{bad}:9:5 consumers[0].colour: unknown field 'colour'" in err
    assert "2 error(s)" in err


def test_check_names_defaults_timeout_when_it_is_too_long_for_an_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cause is `defaults.timeout`, not the endpoint entry that takes it (an endpoint with its own is its own)."""
    bad = write(
        tmp_path,
        "defaults:\n  interval: 30s\n  timeout: 10s\nendpoints:\n"
        "  - {name: fast, kind: http, url: 'http://x/', interval: 5s}\n"
        "  - {name: own, kind: http, url: 'http://y/', interval: 5s, timeout: 6s}\n"
        "  - {name: plain, kind: http, url: 'http://z/'}\n",
    )
    assert main(["check", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:3:12 defaults.timeout: must be shorter than the interval (10s >= 5s) for endpoints[0] 'fast', "
        "which does not set its own timeout",
        f"{bad}:6:70 endpoints[1].timeout: must be shorter than the interval (6s >= 5s)",
        f"{bad}: 2 error(s)",
    ]


def test_bad_run_flags_are_one_line_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, "endpoints:\n  - {name: a, kind: http, url: 'http://127.0.0.1:9/'}\n")
    for flag, value, expected in (
        ("--listen", "nothost", "slowatch run: --listen: must be HOST:PORT or [IPV6]:PORT (got 'nothost')"),
        ("--listen", "127.0.0.1:99999", "--listen: must be HOST:PORT or [IPV6]:PORT (got '127.0.0.1:99999')"),
        ("--log-level", "LOUD", "not a log level: 'LOUD' (choose from DEBUG, INFO, WARNING, ERROR, CRITICAL)"),
    ):
        with pytest.raises(SystemExit) if flag == "--log-level" else contextlib.nullcontext() as exited:
            assert main(["run", "--config", str(config), flag, value, "--once"]) == 2
        if exited is not None:
            assert exited.value.code == 2
        err = capsys.readouterr().err
        assert expected in err, err
        assert "Traceback" not in err and "pydantic" not in err and "validation error" not in err
    argv = ["run", "--config", str(config), "--log-level", "warning", "--once", "--db", str(tmp_path / "x.db")]
    done = subprocess.run([sys.executable, "-m", "slowatch", *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "connection_refused" in done.stdout  # any case of a level name is fine


def test_version_and_python_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "slowatch", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == f"slowatch {__version__}"


def test_help_names_every_command() -> None:
    """`slowatch --help` opens with the list of commands: it names each one the parser has."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    described = (parser.description or "").split("\n\n")[0]
    assert [name for name in commands if f" {name} " not in described.replace("`", " ").replace("\n", " ")] == []


def test_help_is_written_for_users() -> None:
    """`slowatch --help` printed cli.py's docstring ("The only module that prints ... `untrusted.printable`");
    a new user gets what to run first and where the status page is."""
    out = subprocess.run(
        [sys.executable, "-m", "slowatch", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "untrusted" not in out and "module" not in out
    assert "`slowatch demo`" in out and "slowatch check FILE" in out and "http://127.0.0.1:9464/" in out


@pytest.mark.slow
async def test_probe_and_run_once(target: TestServer, tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        f"""
server: {{database: "{tmp_path / "once.db"}"}}
endpoints:
  - {{name: good, kind: http, url: "http://127.0.0.1:{target.port}/ok"}}
  - {{name: refused, kind: http, url: "http://127.0.0.1:{free_port()}/"}}
""",
    )
    code, out, err = await cli("probe", "--config", str(cfg), "good")
    assert code == 0, out + err
    assert "success" in out
    code, out, _ = await cli("probe", "--config", str(cfg), "refused")
    assert code == 1 and "connection_refused" in out
    code, _, err = await cli("probe", "--config", str(cfg), "nope")
    assert code == 2 and "no endpoint named 'nope'" in err

    code, out, err = await cli("run", "--config", str(cfg), "--once", "--log-format", "json")
    assert code == 1
    assert "good" in out and "connection_refused" in out
    for line in err.strip().splitlines():
        json.loads(line)  # every log line is one JSON object
    assert (tmp_path / "once.db").exists()


def test_json_formatter_keeps_context() -> None:
    record = logging.LogRecord("slowatch.x", logging.WARNING, __file__, 1, "probe failed endpoint=%s", ("api",), None)
    doc = json.loads(JsonFormatter().format(record))
    assert doc["level"] == "warning" and doc["msg"] == "probe failed endpoint=api"


async def test_demo_shows_successes_and_failures(tmp_path: Path) -> None:
    def load_config(env: Mapping[str, str]) -> Config:
        return load(ROOT / "config" / "slowatch.yaml", env={**env, "SLOWATCH_DB": str(tmp_path / "d.db")})

    def shown(screen: str) -> bool:
        return (
            "status page http://127.0.0.1:" in screen
            and "payments-api" in screen
            and "success" in screen
            and "connection_refused" in screen  # legacy-reports has nothing listening
            and "SLO checkout/availability: budget left" in screen
        )

    lines: list[str] = []
    stopped = False

    def write(line: str) -> None:  # once everything was shown: Ctrl-C, as a user ends the demo
        nonlocal stopped
        lines.append(line)
        if not stopped and shown("\n".join(lines)):
            stopped = True
            os.kill(os.getpid(), signal.SIGINT)

    code = await run_demo(
        load_config, config_path=None, port=free_port(), listen="127.0.0.1:0", write=write, duration=60, refresh=0.2
    )
    assert code == 0
    assert stopped, "\n".join(lines)  # (not the end of `duration`)


def test_every_command_on_a_database_takes_both_db_and_database() -> None:
    """`run --db FILE` names an instance's database; the commands run against it took `--db` (alerts, silence,
    correct) or `--database` (report, gate, annotate) and refused the other spelling."""
    parser = build_parser()
    for command in (
        ["report", "--config", "c.yaml"],
        ["gate", "-c", "c.yaml", "--consumer", "shop"],
        ["annotate", "-c", "c.yaml", "--kind", "note", "--text", "x"],
        ["alerts", "-c", "c.yaml"],
        ["silence", "-c", "c.yaml", "--endpoint", "api", "--until", "2099-01-01T00:00Z"],
        ["correct", "-c", "c.yaml", "--list"],
    ):
        for flag in ("--db", "--database"):
            args = vars(parser.parse_args([*command, flag, "shard0-a.db"]))
            assert args.get("db", args.get("database")) == "shard0-a.db", (command, flag)


def test_every_command_taking_a_config_takes_dash_c() -> None:
    """The README writes `-c FILE` (run, shard, generate); `report -c` was a usage error, alone of them."""
    parser = build_parser()
    for command in (
        ["run"],
        ["probe", "api"],
        ["report"],
        ["gate", "--consumer", "shop"],
        ["annotate", "--kind", "note", "--text", "x"],
        ["alerts"],
        ["test-sink", "hook"],
        ["silence", "--endpoint", "api", "--until", "2099-01-01T00:00Z"],
        ["correct", "--list"],
        ["shard"],
        ["generate", "prometheus-rules"],
    ):
        assert vars(parser.parse_args([*command, "-c", "c.yaml"]))["config"] == "c.yaml", command


def test_a_silence_until_a_past_time_says_it_silences_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`silence --until` a time already past (a wrong year) printed "silenced until ...", exit 0, and silenced
    nothing. It is still how a silence is lifted early, so it is written, and said so."""
    path = tmp_path / "c.yaml"
    path.write_text(
        f"server: {{database: {tmp_path / 's.db'}}}\nendpoints: [{{name: api, kind: tcp, host: 127.0.0.1, port: 9}}]\n"
    )
    assert main(["silence", "-c", str(path), "--endpoint", "api", "--until", "2099-01-01T00:00Z"]) == 0
    assert "endpoint api silenced until 2099-01-01 00:00:00 UTC" in capsys.readouterr().out
    assert main(["silence", "-c", str(path), "--endpoint", "api", "--until", "2020-01-01T00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "silenced until" not in out
    assert "endpoint api is not silenced: 2020-01-01 00:00:00 UTC is in the past (any silence on it is lifted)" in out
    assert main(["alerts", "-c", str(path)]) == 0
    assert "SILENCES (0)" in capsys.readouterr().out
