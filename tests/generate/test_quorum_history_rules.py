"""A location-quorum SLO on a Prometheus with little history of it, under `promtool test rules`.

A quorum SLO's error ratio is the share of rule evaluations whose slice failed
(`avg_over_time(slowatch_slo:quorum_failed:bool[window])`): on a fresh Prometheus, or right after the rules are
first loaded, it averages only the minutes it has. Its unit is the slice (a timeslice SLI), so, as slowatch's
state `ok`, no budget, burn page or exhausted alert before the SLO window holds enough *slices* for the budget
to allow one failed one (100 at 99 %), whatever the number of probes (slowatch's counters carry on from long
before: their `increase` over the window reaches 100 probes in the first minute).

`shop/avail` (99 %, 30d, quorum 2 of eu/us/ap) with 120 probes a minute per location, counters at 1,000,000
when Prometheus starts at 0m. A 2-minute blip seen by eu and us from 10m (once judged, its 2 slices of ~100 still
overspend the budget: a ticket, as slowatch would say); a sustained outage from 110m pages.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import load
from slowatch.generate.prometheus import render_rules
from slowatch.generate.quorum import QUORUM_SLICES
from tests.generate.test_promtool import alerts, expect, promtool

pytestmark = pytest.mark.prometheus

CONFIG = """\
server: {cluster: {locations: [eu, us, ap], location: eu}}
endpoints: [{name: api, kind: http, url: "http://127.0.0.1:9/api", interval: 10s}]
consumers:
  - name: shop
    endpoints: [api]
    slos: [{name: avail, sli: availability, objective: 99, window: 30d, locations: {quorum: 2}}]
"""
MINUTES = 131
BLIP = range(10, 12)  # minutes whose probes fail at eu and us
OUTAGE = range(110, MINUTES)
SHOP = '{consumer="shop",slo="avail",job="slowatch"}'
SHOP_ALERTS = 'ALERTS{consumer="shop",alertstate="firing"}'
PAGE = alerts("SlowatchErrorBudgetBurn", consumer="shop", slo="avail", severity="page", kind="burn_rate")


def location(loc: str) -> list[dict[str, str]]:
    events = good = 1_000_000
    total, good_values = [], []
    for minute in range(MINUTES + 1):
        total.append(str(events))
        good_values.append(str(good))
        events += 120
        failing = loc != "ap" and (minute in BLIP or minute in OUTAGE)
        good += 60 if failing else 120
    labels = f'consumer="shop",slo="avail",instance="{loc}:9464",location="{loc}",job="slowatch"'
    return [
        {"series": f"slowatch_slo_events_total{{{labels}}}", "values": " ".join(total)},
        {"series": f"slowatch_slo_good_events_total{{{labels}}}", "values": " ".join(good_values)},
    ]


@pytest.mark.parametrize("evaluation", ["1m", "20s"])
def test_a_quorum_slo_waits_for_enough_slices_not_probes(tmp_path: Path, evaluation: str) -> None:
    config = tmp_path / "slowatch.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(load(config, env={})))
    checks: list[dict[str, Any]] = [
        # two failed slices of 12: a 100 % quorum error ratio over 5m and 17 % over the hour Prometheus has,
        # but 12 slices are too few to judge a 99 % objective (one failed slice is 8x its budget)
        *(expect(SHOP_ALERTS, f"{m}m", []) for m in (12, 13, 15, 30)),
        expect(f"slowatch_slo:error_budget_remaining:ratio{SHOP}", "13m", []),
        expect(f"slowatch_slo:time_to_exhaustion:seconds{SHOP}", "13m", []),
        # an hour of evaluations holds ~59 slices (the first evaluation has none before it), at either interval
        expect(f"abs({QUORUM_SLICES}{SHOP} - 59) <= bool 1", "60m", [{"labels": SHOP, "value": 1}]),
        # 100 slices later the window is judged, and an outage a quorum sees pages
        expect(f"count(slowatch_slo:error_budget_remaining:ratio{SHOP})", "105m", [{"labels": "{}", "value": 1}]),
        expect(f'{SHOP_ALERTS[:-1]},severity="page"}}', "109m", []),
        expect(f'{SHOP_ALERTS[:-1]},severity="page"}}', "125m", [PAGE]),
    ]
    case = {"name": "fresh", "interval": "1m", "input_series": location("eu") + location("us") + location("ap"),
            "promql_expr_test": checks}  # fmt: skip
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": evaluation, "tests": [case]}))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
