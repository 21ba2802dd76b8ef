"""The whole daemon as a user runs it: a subprocess, real targets, real SQLite, real signals."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.e2e.conftest import HITS
from tests.e2e.harness import DaemonProcess, metric_value

SECRET = "s3cr3t-token-value-7781"


def base_config(port: int, extra: str = "") -> str:
    return f"""
server:
  database: ./slowatch.db
  shutdown_grace: 2s
defaults:
  interval: 1s
  timeout: 800ms
endpoints:
  - name: healthy
    kind: http
    url: http://127.0.0.1:{port}/ok
    headers: {{Authorization: "Bearer ${{TOKEN}}"}}
  - name: failing
    kind: http
    url: http://127.0.0.1:{port}/fail
{extra}
consumers:
  - name: checkout
    endpoints: [healthy, failing]
"""


async def test_probes_metrics_history_and_clean_stop(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(base_config(targets.port))
    d = DaemonProcess(cfg, tmp_path, env={"TOKEN": SECRET})
    daemons.append(d)
    await d.start()
    await d.wait_for_metric('slowatch_probes_total{endpoint="failing",kind="http",outcome="http_status"}')
    await d.wait_for_metric('slowatch_probes_total{endpoint="healthy",kind="http",outcome="success"}')
    text = await d.metrics()
    assert metric_value(text, 'slowatch_probe_success{endpoint="healthy",kind="http"}') == 1.0
    assert metric_value(text, 'slowatch_probe_success{endpoint="failing",kind="http"}') == 0.0
    assert metric_value(text, 'slowatch_probe_http_status_code{endpoint="failing"}') == 503.0
    assert metric_value(text, "slowatch_config_last_reload_successful") == 1.0
    assert metric_value(text, "slowatch_scheduler_lag_seconds_count") >= 2
    assert "slowatch_build_info{" in text

    status, body = await d.get("/api/v1/endpoints")
    assert status == 200
    by_name = {e["name"]: e for e in json.loads(body)["endpoints"]}
    assert by_name["failing"]["latest"]["message"] == "expected status 200, got 503"
    status, page = await d.get("/")
    assert status == 200 and "healthy" in page and "expected status 200, got 503" in page

    scraped = await d.metrics()
    counted = sum(
        float(line.rsplit(" ", 1)[1]) for line in scraped.splitlines() if line.startswith("slowatch_probes_total{")
    )
    t0 = time.monotonic()
    assert await d.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 5
    log = d.log()
    assert "slowatch stopped" in log
    for text_seen in (log, text, body, page):
        assert SECRET not in text_seen

    db = sqlite3.connect(tmp_path / "slowatch.db")
    (count_before,) = db.execute("select count(*) from results").fetchone()
    db.close()
    assert count_before >= counted >= 2  # every result seen before SIGTERM was flushed to disk

    # A restart keeps history and adds to it.
    d2 = DaemonProcess(cfg, tmp_path, env={"TOKEN": SECRET})
    daemons.append(d2)
    await d2.start()
    await asyncio.sleep(2.5)
    assert await d2.stop() == 0
    db = sqlite3.connect(tmp_path / "slowatch.db")
    (count_after,) = db.execute("select count(*) from results").fetchone()
    db.close()
    assert count_after > count_before


async def test_sighup_reload_valid_then_invalid(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    cfg = write_config(base_config(targets.port))
    d = DaemonProcess(cfg, tmp_path, env={"TOKEN": SECRET})
    daemons.append(d)
    await d.start()
    added = f"""  - name: added-later
    kind: http
    url: http://127.0.0.1:{targets.port}/ok
"""
    write_config(base_config(targets.port, added))
    d.send(signal.SIGHUP)
    await d.wait_for_metric('slowatch_probe_success{endpoint="added-later",kind="http"} 1.0')
    assert "takes effect after a restart" not in d.log()  # --listen is kept, not "changed" by the reload

    write_config(base_config(targets.port, added) + "\nbogus_key: true\n")
    d.send(signal.SIGHUP)
    await d.wait_for_metric("slowatch_config_last_reload_successful 0.0")
    # The old config keeps running.
    before = metric_value(await d.metrics(), 'slowatch_probes_total{endpoint="added-later"')
    await asyncio.sleep(2.2)
    after = metric_value(await d.metrics(), 'slowatch_probes_total{endpoint="added-later"')
    assert after > before
    assert "config reload rejected" in d.log()
    assert "bogus_key" in d.log()
    assert await d.stop() == 0


async def test_a_reload_that_conflicts_with_a_run_flag_is_a_located_rejection(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """`run --location eu`, then a reload whose `locations` no longer hold eu: the flag's check raised a
    ValueError, logged as 'config reload failed' with a traceback and no place in the file."""
    text = base_config(targets.port).replace("server:\n", "server:\n  cluster: {locations: [eu, us]}\n", 1)
    cfg = write_config(text)
    d = DaemonProcess(cfg, tmp_path, env={"TOKEN": SECRET}, args=("--location", "eu"))
    daemons.append(d)
    await d.start()
    write_config(text.replace("[eu, us]", "[us, ap]"))
    d.send(signal.SIGHUP)
    await d.wait_for_metric('slowatch_config_last_reload_successful{location="eu"} 0.0')
    log = d.log()
    assert "Traceback" not in log and "config reload rejected" in log
    assert f"{cfg}:3:3 server.cluster.location: 'eu' (from --location) is not one of locations: us, ap" in log
    write_config(text.replace("[eu, us]", "[eu, ap]"))
    d.send(signal.SIGHUP)
    await d.wait_for_metric('slowatch_config_last_reload_successful{location="eu"} 1.0')
    assert await d.stop() == 0


async def test_sigterm_with_hanging_probe_exits_within_grace(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    hanging = f"""  - name: hanging
    kind: http
    url: http://127.0.0.1:{targets.port}/slow
    interval: 10s
    timeout: 9s
"""
    cfg = write_config(base_config(targets.port, hanging))
    d = DaemonProcess(cfg, tmp_path, env={"TOKEN": SECRET})
    daemons.append(d)
    await d.start()
    deadline = time.monotonic() + 15
    while targets.app[HITS]["slow"] == 0:
        assert time.monotonic() < deadline, "the hanging endpoint was never probed"
        await asyncio.sleep(0.1)
    t0 = time.monotonic()
    assert await d.stop(signal.SIGTERM) == 0
    elapsed = time.monotonic() - t0
    assert elapsed < 2 + 3, f"shutdown took {elapsed:.1f}s with a 2s grace"
    assert "cancelled_in_flight=1" in d.log()
    assert "Traceback" not in d.log()
