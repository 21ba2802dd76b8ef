"""The same probe series through slowatch itself and through its generated rules under `promtool test rules`.

A series is a list of minutes, each `(probes, failed)` of one SLO's endpoint `api`. `slowatch_firing` runs
them through a real Store + SloService + AlertService on a FakeClock (one refresh and alert evaluation a
minute) and returns the alert keys firing after each minute; `promtool_check` feeds the per-SLO counters
those results make (one scrape a minute) to the generated rules and asserts the given `ALERTS` samples.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from slowatch.alerting import AlertService
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.generate.prometheus import render_rules
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.generate.conftest import binary

Minutes = Sequence[tuple[int, int]]  # (probes, failed) per minute


def shop_config(tmp_path: Path, window: Any = "30d", objective: float = 99, **alerting: Any) -> Config:
    """Consumer `shop`, SLO `avail` (availability, 99% by default) over endpoint `api`."""
    return Config.model_validate({
        "server": {"database": str(tmp_path / "slo.db")},
        "endpoints": [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/", "interval": "10s"}],
        "consumers": [{"name": "shop", "endpoints": ["api"], "slos": [
            {"name": "avail", "sli": "availability", "objective": objective, "window": window},
        ]}],
        "alerting": alerting,
    })  # fmt: skip


async def slowatch_firing(config: Config, start: float, minutes: Minutes) -> list[set[str]]:
    """The SLO alert keys firing after each minute of `minutes` (results spread over the minute)."""
    ZoneInfo("UTC")  # loaded here (a file read), as config loading does before the daemon's event loop
    clock = FakeClock(start)
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    slo = SloService(config, store, clock, refresh_interval=3600, persist_interval=3600)
    alerts = AlertService(config, store, clock)
    await store.start()
    await slo.start()
    await alerts.start()
    out = []
    try:
        for probes, failed in minutes:
            for i in range(probes):
                outcome = Outcome.TIMEOUT if i < failed else Outcome.SUCCESS
                slo.observe(ProbeResult("api", "http", outcome, clock.time() + i * 59 / probes, 0.1, final=True))
            clock.advance(60)
            alerts.evaluate(slo.refresh())
            out.append(set(alerts.book.firing))
    finally:
        await alerts.stop()
        await slo.stop()
        await store.close()
    return out


def counters(minutes: Minutes) -> list[dict[str, str]]:
    """The SLO's counters as scraped at 0m, 1m, ...: the value at minute m counts the first m minutes."""
    events, good = [0], [0]
    for probes, failed in minutes:
        events.append(events[-1] + probes)
        good.append(good[-1] + probes - failed)
    labels = '{consumer="shop",slo="avail",instance="a",job="slowatch"}'
    return [
        {"series": f"slowatch_slo_events_total{labels}", "values": " ".join(map(str, events))},
        {"series": f"slowatch_slo_good_events_total{labels}", "values": " ".join(map(str, good))},
    ]


def alert_sample(name: str, **labels: str) -> dict[str, Any]:
    inner = ",".join(f'{k}="{v}"' for k, v in {"alertname": name, "alertstate": "firing", **labels}.items())
    return {"labels": f'ALERTS{{{inner},consumer="shop",slo="avail",job="slowatch"}}', "value": 1}


def promtool_check(tmp_path: Path, config: Config, cases: dict[str, tuple[Minutes, list[dict[str, Any]]]]) -> None:
    """Each case: the minutes, and `{expr, eval_time, exp_samples}` tests of what the rules give."""
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(config))
    tests = [
        {"name": name, "interval": "1m", "input_series": counters(minutes), "promql_expr_test": checks}
        for name, (minutes, checks) in cases.items()
    ]
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}))
    proc = subprocess.run([binary("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
