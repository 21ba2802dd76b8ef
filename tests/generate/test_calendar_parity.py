"""A calendar-month SLO pages at the same burn in slowatch and in its generated Prometheus rules.

The same probe series (200 probes a minute, `bad` of them failing, for 65 minutes) goes (a) through
slowatch itself in months of 28, 29, 30 and 31 days and (b) into the generated rules under `promtool
test rules` (tests/generate/parity.py). The page tier is 1h/5m at 2% of the budget: a 30-day nominal
month gives 14.4 everywhere, whatever the month's length.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from slowatch.alerting.events import burn_key
from slowatch.config.schema import Config
from tests.generate.parity import alert_sample, promtool_check, shop_config, slowatch_firing

PER_MINUTE, MINUTES = 200, 65
MONTHS = {
    "2027-02 (28d)": (2027, 2),
    "2028-02 (29d)": (2028, 2),
    "2026-04 (30d)": (2026, 4),
    "2027-01 (31d)": (2027, 1),
}
BURNS = {28: False, 29: True}  # bad probes a minute -> pages (burn 14x and 14.5x against 14.4)
PAGE_TIER = [{"severity": "page", "long": "1h", "short": "5m", "budget_percent": 2}]


def month_config(tmp_path: Path) -> Config:
    return shop_config(tmp_path, window={"calendar": "month"}, burn_tiers=PAGE_TIER)


@pytest.mark.parametrize("bad", BURNS)
@pytest.mark.parametrize("month", MONTHS)
async def test_slowatch_pages_a_calendar_month_at_the_nominal_factor(tmp_path: Path, month: str, bad: int) -> None:
    start = dt.datetime(*MONTHS[month], 10, tzinfo=dt.UTC).timestamp()
    firing = await slowatch_firing(month_config(tmp_path), start, [(PER_MINUTE, bad)] * MINUTES)
    assert (burn_key("shop", "avail", "page") in firing[-1]) is BURNS[bad]


@pytest.mark.prometheus
def test_the_generated_rules_page_at_the_same_burn(tmp_path: Path) -> None:
    page = alert_sample("SlowatchErrorBudgetBurn", severity="page", kind="burn_rate")
    expr = 'ALERTS{alertname="SlowatchErrorBudgetBurn",alertstate="firing"}'
    cases = {
        f"{bad} bad a minute pages: {pages}": (
            [(PER_MINUTE, bad)] * (MINUTES + 5),
            [{"expr": expr, "eval_time": f"{MINUTES}m", "exp_samples": [page] if pages else []}],
        )
        for bad, pages in BURNS.items()
    }
    promtool_check(tmp_path, month_config(tmp_path), cases)
