"""Parity: what Prometheus computes from the generated rules equals what slowatch computes itself.

The daemon probes 8 real endpoints every second, 2 of which always fail (an error ratio of 25 %),
for three SLOs of different objectives; a real Prometheus scrapes it every second and evaluates the
generated rules. Burn rates per window and budget left agree within 2 %, and the same alerts fire
in both (page + ticket + exhausted; ticket + exhausted; none); the endpoint-down page fires in both but for
a silenced endpoint, which neither pages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.generate.prometheus import render_rules
from tests.e2e.harness import DaemonProcess
from tests.e2e.promserver import PrometheusServer
from tests.e2e.test_prometheus import binary

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def parity_config(port: int) -> str:
    endpoints = "".join(
        f'  - {{name: ep{i}, kind: http, url: "http://127.0.0.1:{port}/{"fail" if i < 2 else "ok"}"}}\n'
        for i in range(8)
    )
    return f"""\
server: {{database: ./parity.db, jitter: 0}}
defaults: {{interval: 1s, timeout: 500ms}}
endpoints:
{endpoints}consumers:
  - name: shop
    endpoints: [{", ".join(f"ep{i}" for i in range(8))}]
    slos:
      - {{name: strict, sli: availability, objective: 99, window: 30d}}
      - {{name: loose, sli: availability, objective: 78, window: 7d}}
      - {{name: easy, sli: availability, objective: 60, window: 30d}}
alerting: {{evaluate_interval: 1s}}
silences: [{{endpoint: ep1, until: "2099-01-01T00:00:00Z"}}]
"""


def close(a: dict[tuple[str, ...], float], b: dict[tuple[str, ...], float]) -> list[str]:
    """Keys missing on either side, or values more than 2 % apart."""
    out = [f"{k}: only in one ({k in a}, {k in b})" for k in sorted(set(a) ^ set(b))]
    out += [f"{k}: {a[k]:.4f} vs {b[k]:.4f}" for k in sorted(set(a) & set(b)) if abs(a[k] - b[k]) > 0.02 * abs(b[k])]
    return out


async def test_prometheus_and_slowatch_agree_on_burn_budget_and_alerts(
    targets: TestServer, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    path = write_config(parity_config(targets.port))
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    prom = PrometheusServer(binary("prometheus"), tmp_path, [f"127.0.0.1:{d.port}"], render_rules(load(path, env={})))
    try:
        await asyncio.gather(d.start(), prom.start())  # Prometheus scrapes nothing until the daemon listens
        problems: list[str] = ["not compared yet"]
        deadline = time.monotonic() + 90
        while problems and time.monotonic() < deadline:
            await asyncio.sleep(1)
            problems = []
            ours = await prom.values("slowatch_slo_burn_rate", "slo", "window")
            theirs = await prom.values("slowatch_slo:burn_rate:ratio", "slo", "window")
            problems += [f"burn {p}" for p in close(theirs, ours)]
            if len(theirs) != 3 * 8:  # seven alerting windows and the SLO window, for each SLO
                problems.append(f"burn rates for {sorted(theirs)}")
            ours = await prom.values("slowatch_slo_error_budget_remaining_ratio", "slo")
            theirs = await prom.values("slowatch_slo:error_budget_remaining:ratio", "slo")
            problems += [f"budget {p}" for p in close(theirs, ours)]
            ours = await prom.values("slowatch_alerts_firing", "slo", "severity", "kind")
            theirs = await prom.values('ALERTS{alertstate="firing",alertname=~"SlowatchErrorBudget.*"}',
                                       "slo", "severity", "kind")  # fmt: skip
            expected = {("strict", "page", "burn_rate"), ("strict", "ticket", "burn_rate"),
                        ("strict", "ticket", "budget_exhausted"), ("loose", "ticket", "burn_rate"),
                        ("loose", "ticket", "budget_exhausted")}  # fmt: skip
            if set(ours) != expected or set(theirs) != expected:
                problems.append(f"alerts: slowatch {sorted(ours)}, prometheus {sorted(theirs)}")
            down = await prom.values("slowatch_endpoint_down == 1", "endpoint")
            held = await prom.values("slowatch_endpoint_suppressed", "endpoint", "reason")
            prom_down = await prom.values('ALERTS{alertstate="firing",alertname="SlowatchEndpointDown"}', "endpoint")
            # ep1 is silenced: slowatch's alert fires unsent, the rules' stays quiet
            if set(down) != {("ep0",), ("ep1",)} or set(held) != {("ep1", "silence")} or set(prom_down) != {("ep0",)}:
                problems.append(f"down: slowatch {sorted(down)} held {sorted(held)}, prometheus {sorted(prom_down)}")
        assert not problems, "\n".join(problems) + "\n" + prom.log()
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{prom.port}/api/v1/alerts") as r:
            firing = (await r.json())["data"]["alerts"]
        page = next(a for a in firing if a["labels"].get("slo") == "strict" and a["labels"]["severity"] == "page")
        text = page["annotations"]["description"]  # the templates render: budget left, no time to exhaustion
        assert "(objective 99%, error budget 0.01)" in text and "Budget left: -2" in text, text
        assert "exhausted in n/a" in text, text
    finally:
        await prom.stop()
    assert await d.stop() == 0
