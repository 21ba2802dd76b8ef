"""A calendar-month SLO pages at the same burn in slowatch and in its generated Prometheus rules.

The same probe series (200 probes a minute, `bad` of them failing, for 65 minutes) goes (a) through a
real Store + SloService + AlertService on a FakeClock in months of 28, 29, 30 and 31 days, and
(b) as the per-SLO counters into the generated rules under `promtool test rules`. The page tier is
1h/5m at 2% of the budget: a 30-day nominal month gives 14.4 everywhere, whatever the month's length.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from slowatch.alerting import AlertService
from slowatch.alerting.events import burn_key
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.generate.prometheus import render_rules
from slowatch.models import Outcome, ProbeResult
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.generate.conftest import binary

PER_MINUTE, MINUTES = 200, 65
MONTHS = {
    "2027-02 (28d)": (2027, 2),
    "2028-02 (29d)": (2028, 2),
    "2026-04 (30d)": (2026, 4),
    "2027-01 (31d)": (2027, 1),
}
BURNS = {28: False, 29: True}  # bad probes a minute -> pages (burn 14x and 14.5x against 14.4)


def month_config(tmp_path: Path) -> Config:
    return Config.model_validate({
        "server": {"database": str(tmp_path / "slo.db")},
        "endpoints": [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/", "interval": "10s"}],
        "consumers": [{"name": "shop", "endpoints": ["api"], "slos": [
            {"name": "avail", "sli": "availability", "objective": 99, "window": {"calendar": "month"}},
        ]}],
        "alerting": {"burn_tiers": [{"severity": "page", "long": "1h", "short": "5m", "budget_percent": 2}]},
    })  # fmt: skip


async def slowatch_pages(tmp_path: Path, year: int, month: int, bad: int) -> bool:
    config = month_config(tmp_path)
    ZoneInfo("UTC")  # loaded here (a file read), as config loading does before the daemon's event loop
    start = dt.datetime(year, month, 10, tzinfo=dt.UTC).timestamp()
    clock = FakeClock(start)
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    slo = SloService(config, store, clock, refresh_interval=3600, persist_interval=3600)
    alerts = AlertService(config, store, clock)
    await store.start()
    await slo.start()
    await alerts.start()
    try:
        for _ in range(MINUTES):
            for i in range(PER_MINUTE):
                ok = i >= bad
                outcome = Outcome.SUCCESS if ok else Outcome.TIMEOUT
                slo.observe(ProbeResult("api", "http", outcome, clock.time() + i * 0.25, 0.1, final=True))
            clock.advance(60)
        snapshot = slo.refresh()
        status = snapshot.get("shop", "avail")
        assert status is not None and status.burn(3600) == pytest.approx(bad / PER_MINUTE / 0.01)
        alerts.evaluate(snapshot)
        return burn_key("shop", "avail", "page") in alerts.book.firing
    finally:
        await alerts.stop()
        await slo.stop()
        await store.close()


@pytest.mark.parametrize("bad", BURNS)
@pytest.mark.parametrize("month", MONTHS)
async def test_slowatch_pages_a_calendar_month_at_the_nominal_factor(tmp_path: Path, month: str, bad: int) -> None:
    assert await slowatch_pages(tmp_path, *MONTHS[month], bad) is BURNS[bad]


def counters(bad: int) -> list[dict[str, str]]:
    labels = '{consumer="shop",slo="avail",instance="a",job="slowatch"}'
    return [
        {"series": f"slowatch_slo_events_total{labels}", "values": f"0+{PER_MINUTE}x{MINUTES + 5}"},
        {"series": f"slowatch_slo_good_events_total{labels}", "values": f"0+{PER_MINUTE - bad}x{MINUTES + 5}"},
    ]


@pytest.mark.prometheus
def test_the_generated_rules_page_at_the_same_burn(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(month_config(tmp_path)))
    page = {
        "labels": 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing",consumer="shop",slo="avail",'
        'severity="page",kind="burn_rate",job="slowatch"}',
        "value": 1,
    }
    tests: list[dict[str, Any]] = []
    for bad, pages in BURNS.items():
        expr = 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing"}'
        tests.append({
            "name": f"{bad} bad a minute pages: {pages}", "interval": "1m", "input_series": counters(bad),
            "promql_expr_test": [{"expr": expr, "eval_time": f"{MINUTES}m", "exp_samples": [page] if pages else []}],
        })  # fmt: skip
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}))
    proc = subprocess.run([binary("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
