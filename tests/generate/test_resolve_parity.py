"""SLO alerts resolve when slowatch's do: after their condition has been false for `resolve_after`.

20 of 100 probes a minute fail for an hour (a 20x burn: the 1h/5m page tier fires), then none do. The
5m window is clean a few minutes later; both slowatch and the generated rules keep paging for
`resolve_after` (10m) more, so both still page at 70m and neither at 80m.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from slowatch.alerting.events import burn_key
from slowatch.config.schema import Config
from tests.generate.parity import alert_sample, promtool_check, shop_config, slowatch_firing

MINUTES = [(100, 20)] * 60 + [(100, 0)] * 30
PAGE_TIER = [{"severity": "page", "long": "1h", "short": "5m", "budget_percent": 2}]
EXPECT = {60: True, 70: True, 80: False}  # minute -> paging


def config(tmp_path: Path) -> Config:
    return shop_config(tmp_path, burn_tiers=PAGE_TIER, resolve_after="10m")


async def test_slowatch_holds_a_burn_alert_for_resolve_after(tmp_path: Path) -> None:
    start = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()
    firing = await slowatch_firing(config(tmp_path), start, MINUTES)
    assert {m: burn_key("shop", "avail", "page") in firing[m - 1] for m in EXPECT} == EXPECT


@pytest.mark.prometheus
def test_the_generated_burn_alert_is_held_as_long(tmp_path: Path) -> None:
    page = alert_sample("SlowatchErrorBudgetBurn", severity="page", kind="burn_rate")
    expr = 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing"}'
    checks = [{"expr": expr, "eval_time": f"{m}m", "exp_samples": [page] if on else []} for m, on in EXPECT.items()]
    promtool_check(tmp_path, config(tmp_path), {"a 20x burn for an hour, then none": (MINUTES, checks)})
