"""A burn exactly at a tier's factor: slowatch and the generated rules agree that it does not fire.

99.95 %: an error budget of 0.0005. One bad probe in 200 is an error ratio of 0.005, a burn of exactly
10x. In floats `1 - 0.9995` is 0.00049999999999994493, so dividing by it gave slowatch a burn of
10.0000000000011 (above a factor of 10: a page), while the rules divide by the exact 0.0005 (10.0: no
page). Two bad probes in 200 (20x) page in both.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from slowatch.alerting.events import burn_key
from slowatch.config.schema import Config
from slowatch.slo import budget
from tests.generate.parity import Minutes, alert_sample, promtool_check, shop_config, slowatch_firing

TIER = [{"severity": "page", "long": "1h", "short": "5m", "factor": 10}]
AT = [(200, 1)] * 65  # exactly 10x in every window
ABOVE = [(200, 2)] * 65  # 20x


def config(tmp_path: Path) -> Config:
    return shop_config(tmp_path, objective=99.95, burn_tiers=TIER)


def test_the_error_budget_is_exact() -> None:
    assert budget.error_budget(0.9995) == 0.0005
    assert budget.burn_rate(199, 200, 0.9995) == 10.0
    assert budget.error_budget(0.99999999999999) == 1e-14


@pytest.mark.parametrize(("minutes", "paging"), [(AT, False), (ABOVE, True)])
async def test_slowatch_pages_only_above_the_factor(tmp_path: Path, minutes: Minutes, paging: bool) -> None:
    start = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()
    firing = await slowatch_firing(config(tmp_path), start, minutes)
    assert (burn_key("shop", "avail", "page") in firing[64]) == paging


@pytest.mark.prometheus
def test_the_rules_page_only_above_the_factor(tmp_path: Path) -> None:
    page = alert_sample("SlowatchErrorBudgetBurn", severity="page", kind="burn_rate")
    expr = 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing"}'
    promtool_check(tmp_path, config(tmp_path), {
        "exactly 10x": (AT, [{"expr": expr, "eval_time": "65m", "exp_samples": []}]),
        "20x": (ABOVE, [{"expr": expr, "eval_time": "65m", "exp_samples": [page]}]),
    })  # fmt: skip
