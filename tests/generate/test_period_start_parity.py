"""An outage in the first hour of a calendar month pages in slowatch as in the generated rules.

2 probes a minute for two days of February, all good, then every probe fails from 1 March 00:00 UTC.
The month-to-date window holds 120 probes at 01:00, too few for 99.9% to allow one bad probe, but the
burn-rate windows (1h, 5m) are full: both slowatch and the rules (whose 30d window holds the two
days) page. The budget-exhausted alert needs a trustworthy month, so neither sends that yet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from slowatch.alerting.events import burn_key, exhausted_key
from slowatch.config.schema import Config
from tests.generate.parity import alert_sample, promtool_check, shop_config, slowatch_firing

GOOD_MINUTES = 2 * 24 * 60
MINUTES = [(2, 0)] * GOOD_MINUTES + [(2, 2)] * 60


def config(tmp_path: Path) -> Config:
    return shop_config(tmp_path, window={"calendar": "month"}, objective=99.9)


async def test_slowatch_pages_in_the_first_hour_of_a_month(tmp_path: Path) -> None:
    start = dt.datetime(2027, 3, 1, tzinfo=dt.UTC).timestamp() - GOOD_MINUTES * 60
    firing = await slowatch_firing(config(tmp_path), start, MINUTES)
    assert burn_key("shop", "avail", "page") in firing[-1]
    assert exhausted_key("shop", "avail") not in firing[-1]


@pytest.mark.prometheus
@pytest.mark.slow
def test_the_generated_rules_page_in_the_first_hour_too(tmp_path: Path) -> None:
    expr = 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing",severity="page"}'
    page = alert_sample("SlowatchErrorBudgetBurn", severity="page", kind="burn_rate")
    checks = [{"expr": expr, "eval_time": f"{len(MINUTES)}m", "exp_samples": [page]}]
    promtool_check(tmp_path, config(tmp_path), {"an outage after two good days": (MINUTES, checks)})
