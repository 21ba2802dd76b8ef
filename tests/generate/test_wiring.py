"""The generators wired into the running daemon: rules served live, histogram buckets at SLO thresholds."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.daemon import Daemon
from slowatch.generate.prometheus import render_rules

CONFIG = """\
server: {{listen: "127.0.0.1:0", database: "{db}", metrics: {{histograms: true}}}}
endpoints:
  - {{name: up, kind: http, url: "http://127.0.0.1:{port}/ok"}}
consumers:
  - name: shop
    endpoints: [up]
    slos:
      - {{name: quick, sli: latency, threshold: 300ms, objective: 99}}
{more}"""
MORE = "      - {name: avail, sli: availability, objective: 99.9, window: 7d}\n"


async def get(d: Daemon, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{d.bound_port}{path}") as r:
        return r.status, r.content_type, await r.text()


async def test_rules_are_served_for_the_running_config_and_follow_a_reload(target: TestServer, tmp_path: Path) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db", port=target.port, more=""))
    d = Daemon(load(path, env={}), config_path=path)
    await d.start()  # scheduling: a reload updates the scheduler
    try:
        status, ctype, text = await get(d, "/api/v1/prometheus/rules")
        assert (status, ctype) == (200, "application/yaml")
        assert text == render_rules(load(path, env={}), "the running slowatch config")
        names = [g["name"] for g in yaml.safe_load(text)["groups"]]
        assert names == ["slowatch-slo:shop/quick", "slowatch-endpoints", "slowatch-fleet"]

        path.write_text(CONFIG.format(db=tmp_path / "s.db", port=target.port, more=MORE))
        assert await d.reload()
        names = [g["name"] for g in yaml.safe_load((await get(d, "/api/v1/prometheus/rules"))[2])["groups"]]
        assert names == ["slowatch-slo:shop/quick", "slowatch-slo:shop/avail", "slowatch-endpoints", "slowatch-fleet"]
    finally:
        await d.stop()


async def test_the_rules_are_rendered_off_the_event_loop(
    target: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 100,000 endpoints and 1,000 SLOs rendering takes ~28 s: on the event loop, no probe ran and /healthz did
    not answer meanwhile. Two requests at once share the one rendering."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db", port=target.port, more=""))
    threads: list[bool] = []

    def render(*args: Any) -> str:
        threads.append(threading.current_thread() is threading.main_thread())
        return render_rules(*args)

    monkeypatch.setattr("slowatch.web.rules_api.render_rules", render)
    d = Daemon(load(path, env={}), config_path=path)
    await d.start(schedule=False)
    try:
        (s1, _, a), (s2, _, b) = await asyncio.gather(
            get(d, "/api/v1/prometheus/rules"), get(d, "/api/v1/prometheus/rules")
        )
        assert (s1, s2) == (200, 200) and a == b == render_rules(load(path, env={}), "the running slowatch config")
        assert threads == [False]  # one rendering, not on the event loop's thread
    finally:
        await d.stop()


async def test_probe_histogram_has_a_bucket_at_every_latency_threshold(target: TestServer, tmp_path: Path) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db", port=target.port, more=""))
    d = Daemon(load(path, env={}), config_path=path)
    await d.start(schedule=False)
    try:
        await d.probe_all_once()
        text = (await get(d, "/metrics"))[2]
        buckets = [line for line in text.splitlines() if line.startswith("slowatch_probe_duration_seconds_bucket")]
        assert any('le="0.3"' in line for line in buckets), buckets  # 300ms is not a default bucket
        assert any('le="0.25"' in line for line in buckets)  # the defaults stay
    finally:
        await d.stop()
