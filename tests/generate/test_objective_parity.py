"""Minute by minute, slowatch and its generated rules page and resolve together at 90 % and 99.99 %.

Each scenario is written once: a list of minutes `(probes, failed)`. slowatch runs it (tests/generate/parity.py:
a real Store, SloService and AlertService on a FakeClock, one evaluation a minute) and what it fires after each
minute becomes the expected `ALERTS` of `promtool test rules` at that minute, for every burn severity and the
exhausted alert. Minutes where either could see the window edge differently (slowatch sums whole 1-minute cells,
Prometheus extrapolates exactly W) are compared too: with one scrape a minute they coincide.

- 90 % (at most a 10x burn): a total outage after 6 clean hours tickets through the 3d/6h tier after 41 minutes
  (the 3d error ratio above 0.1) and pages through the 6h/30m one only after 3.6 h (the 6h ratio above 0.6),
  never through the 14.4x one (`slowatch check` warns of it).
- 99.99 % (10,000 probes needed): a 5 % error ratio (a 500x burn) starting before the window holds 10,000 probes
  pages only once it does, and both resolve once the 30m window is clean again and `resolve_after` has passed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.events import burn_key, exhausted_key
from tests.generate.parity import Minutes, alert_sample, promtool_check, shop_config, slowatch_firing

pytestmark = pytest.mark.prometheus
START = dt.datetime(2026, 11, 10, tzinfo=dt.UTC).timestamp()

QUIET = [(0, 0)]  # a first minute without probes: a result at the very instant the service starts is not counted
SCENARIOS: dict[str, tuple[float, Minutes]] = {
    "90 %: 6 clean hours, then every probe fails for 4 h": (90, QUIET + [(6, 0)] * 360 + [(6, 6)] * 240),
    "99.99 %: 5 % failing from minute 40 to 70 at 200 probes a minute, then clean for an hour": (
        99.99,
        QUIET + [(200, 0)] * 40 + [(200, 10)] * 30 + [(200, 0)] * 60,
    ),
}


def expected(firing: set[str]) -> list[dict[str, Any]]:
    out = [
        alert_sample("SlowatchErrorBudgetBurn", severity=severity, kind="burn_rate")
        for severity in ("page", "ticket")
        if burn_key("shop", "avail", severity) in firing
    ]
    if exhausted_key("shop", "avail") in firing:
        out.append(alert_sample("SlowatchErrorBudgetExhausted", severity="ticket", kind="budget_exhausted"))
    return out


@pytest.mark.parametrize("name", SCENARIOS)
async def test_slowatch_and_the_rules_fire_and_resolve_at_the_same_minutes(tmp_path: Path, name: str) -> None:
    objective, minutes = SCENARIOS[name]
    config = shop_config(tmp_path, objective=objective)
    firing = await slowatch_firing(config, START, minutes)
    expr = 'ALERTS{alertname=~"SlowatchErrorBudget.*",alertstate="firing"}'
    checks = [{"expr": expr, "eval_time": f"{m + 1}m", "exp_samples": expected(f)} for m, f in enumerate(firing)]
    promtool_check(tmp_path, config, {name: (minutes, checks)})
    page = [m + 1 for m, f in enumerate(firing) if burn_key("shop", "avail", "page") in f]
    if objective == 99.99:  # 10,000 probes at minute 51; the 6h/30m tier's 30m window is clean again at 101,
        assert (page[0], page[-1]) == (51, 105) and len(page) == 55  # then held for resolve_after (5m)
    else:
        ticket = [m + 1 for m, f in enumerate(firing) if burn_key("shop", "avail", "ticket") in f]
        assert (page[0], ticket[0]) == (1 + 360 + 217, 1 + 360 + 41)  # the 6h ratio above 0.6, the 3d one above 0.1
