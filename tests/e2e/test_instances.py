"""Several `slowatch run`s started with one config in one directory (the README's shard/replica example):
each needs a database of its own. The second on a database fails at once and says why; the first goes on;
the lock dies with its process (kill -9 included); a command that adds a silence works beside a daemon."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess, http_fleet, metric_value
from tests.support.cli import run_cli


async def saved_slo_events(db: Path, consumer: str, within: float = 20.0) -> None:
    """Wait until a committed SLO save of the daemon in `db` counts events of `consumer`."""
    deadline = time.monotonic() + within
    while True:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            saved = conn.execute("SELECT coalesce(sum(events), 0) FROM slo_counters WHERE consumer = ?", (consumer,))
            if saved.fetchone()[0] > 0:
                return
        except sqlite3.OperationalError:  # the daemon has not created the table yet
            pass
        finally:
            conn.close()
        assert time.monotonic() < deadline, f"no SLO save of {consumer} in {db} within {within:g}s"
        await asyncio.sleep(0.2)


def config(port: int) -> str:
    return http_fleet(port, {"a": "ok", "b": "ok"}) + "consumers:\n  - name: team\n    endpoints: [a, b]\n"


@pytest.mark.slow
async def test_a_second_instance_on_the_same_database_refuses_to_start(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(config(targets.port))
    first = DaemonProcess(cfg, tmp_path, args=("--shard", "0/2"))
    daemons.append(first)
    await first.start()
    second = DaemonProcess(cfg, tmp_path, args=("--shard", "1/2"))
    daemons.append(second)
    await second.spawn()
    assert second.proc is not None and first.proc is not None
    assert await asyncio.wait_for(second.proc.wait(), 20) == 1
    log = second.log()
    assert f"database ./slowatch.db is in use by another slowatch run (pid {first.proc.pid} on " in log
    assert "each instance needs a database of its own: set server.database or pass --db FILE" in log
    assert "Traceback" not in log
    assert (await first.get("/readyz"))[0] == 200  # the first one goes on

    silence = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slowatch", "silence", "-c", str(cfg), "--endpoint", "a",
        "--until", "2099-01-01T00:00Z", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(silence.communicate(), 30)
    assert silence.returncode == 0, out.decode()
    assert (await first.get("/readyz"))[0] == 200

    first.send(signal.SIGKILL)
    await first.proc.wait()
    third = DaemonProcess(cfg, tmp_path, args=("--shard", "0/2"))
    daemons.append(third)
    await third.start()  # the kernel released the lock with the killed process
    await third.stop()
    other = DaemonProcess(cfg, tmp_path, args=("--shard", "1/2", "--db", "shard-1.db"))
    daemons.append(other)
    await other.start()  # a database of its own: fine


async def test_a_taken_port_is_a_one_line_error_and_the_database_is_left_free(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(config(targets.port))
    first = DaemonProcess(cfg, tmp_path)
    daemons.append(first)
    await first.start()
    second = DaemonProcess(cfg, tmp_path, args=("--db", "second.db"))
    second.port = first.port  # (it used to end in a traceback from the event loop's create_server)
    daemons.append(second)
    await second.spawn()
    assert second.proc is not None
    assert await asyncio.wait_for(second.proc.wait(), 20) == 1
    log = second.log()
    assert f"ERROR slowatch: cannot listen on 127.0.0.1:{first.port}: " in log
    assert "address already in use; set server.listen or pass --listen" in log
    assert "Traceback" not in log
    third = DaemonProcess(cfg, tmp_path, args=("--db", "second.db"))
    daemons.append(third)
    await third.start()  # the failed start released second.db's lock


async def test_each_instance_exports_its_shard_count_and_the_sha256_of_the_config_it_runs(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """What the fleet rules (slowatch/generate/fleet.py) compare across instances: a reloaded instance says so,
    one that rejected the new file keeps the old sha256."""
    cfg = write_config(config(targets.port))
    d = DaemonProcess(cfg, tmp_path, args=("--shard", "1/2", "--replica", "b"))
    daemons.append(d)
    await d.start()
    labels = 'replica="b",shard="1"'
    assert metric_value(await d.metrics(), f"slowatch_cluster_shards{{{labels}}}") == 2

    def info(sha256: str) -> str:
        return f'slowatch_config_info{{replica="b",sha256="{sha256}",shard="1"}} 1.0'

    first = hashlib.sha256(cfg.read_bytes()).hexdigest()
    await d.wait_for_metric(info(first))
    # and in the log, to compare instances without Prometheus (what `sha256sum slowatch.yaml` prints)
    assert f"config_sha256={first}" in d.log()

    cfg.write_text(config(targets.port).replace("interval: 1s", "interval: 2s"))
    d.send(signal.SIGHUP)
    second = hashlib.sha256(cfg.read_bytes()).hexdigest()
    await d.wait_for_metric(info(second))
    assert f"config running file={cfg} config_sha256={second}" in d.log()
    cfg.write_text(config(targets.port).replace("interval: 1s", "interval: fast"))  # rejected
    d.send(signal.SIGHUP)
    await d.wait_for_metric(f"slowatch_config_last_reload_successful{{{labels}}} 0.0")
    lines = [x for x in (await d.metrics()).splitlines() if x.startswith("slowatch_config_info{")]
    assert lines == [info(second)]
    assert d.log().count("config_sha256=") == 2  # a rejected file runs nothing new


@pytest.mark.slow
async def test_report_and_gate_read_a_shards_database_as_that_shard_when_the_shard_came_from_the_run_flags(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """The README's `run --shard 1/2 --db shard1.db` with a config that says nothing of shards: report and gate
    used to read every SLO of shard1.db as "no data" (GO, "still collecting data")."""
    endpoints = "".join(
        f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:{targets.port}/ok'}}\n" for i in range(5)
    )
    cfg = write_config(f"""
server: {{database: ./slowatch.db, shutdown_grace: 1s}}
defaults: {{interval: 1s, timeout: 800ms}}
endpoints:
{endpoints}consumers:
  - name: mixed       # e1 on shard 0, e3 on shard 1
    endpoints: [e1, e3]
    slos: [{{name: up, sli: availability, objective: 99}}]
  - name: elsewhere   # shard 0 only
    endpoints: [e0]
    slos: [{{name: up, sli: availability, objective: 99}}]
""")
    d = DaemonProcess(cfg, tmp_path, args=("--shard", "1/2", "--replica", "a", "--db", "shard1.db"))
    daemons.append(d)
    await d.start()
    await d.wait_for_metric('slowatch_slo_events_total{consumer="mixed"')
    await saved_slo_events(tmp_path / "shard1.db", "mixed")  # the SLO state is saved every 5 s

    async def cli(*args: str) -> tuple[int, str, str]:
        return await run_cli(*args, cwd=tmp_path, timeout=30)

    code, out, err = await cli("report", "--config", str(cfg), "--database", "shard1.db", "--format", "json")
    assert code == 0, err
    assert [(f["consumer"], f["slo"]) for f in json.loads(out)] == [("mixed", "up")]
    assert json.loads(out)[0]["state"] != "no_data" and json.loads(out)[0]["total"] > 0, out
    assert "note: consumer mixed: partial on this instance: 1 of 2 endpoints (shard 1 of 2, 0-based)" in err

    code, out, err = await cli("gate", "-c", str(cfg), "--database", "shard1.db", "--consumer", "mixed")
    assert code == 0 and "(no data)" not in out, out + err
    assert "note: consumer mixed: partial on this instance" in out
    code, out, err = await cli("gate", "-c", str(cfg), "--database", "shard1.db", "--consumer", "elsewhere")
    assert code == 2 and "Traceback" not in err
    assert "consumer 'elsewhere' has no endpoint in shard 1 of 2, which shard1.db holds" in err
