"""A replica restarting mid-outage, under `promtool test rules`: no missed page, no false one.

`shop/avail` (99 %, 30d, the default tiers) is probed by two HA replicas, a and b, 100 probes a minute
each, with counters that have run for long (1,000,000 events). From 30m every probe fails (a 100x burn:
the 1h/5m tier pages). Replica b stops at 40m and starts again at 43m: slowatch restores its counters from
its database, so they carry on from where they stopped (what its last scrape showed).

A restart whose counters come back *below* the last scrape (a kill -9 between counting a result and
storing it) would lose the page for up to an hour: Prometheus takes any decrease for a reset to 0 and adds
the whole counter to `increase()`, and `max without (instance, replica)` then takes that replica. That
case is no longer tested here because it can no longer arise: the daemon exports only the counters of its
last committed SLO save, which a restart restores (slowatch/slo/service.py), so after any kill its
counters are at least the last scraped ones (tests/e2e/test_counter_restart.py,
tests/slo/test_exported_counters.py).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import load
from slowatch.generate.prometheus import render_rules
from tests.generate.test_promtool import alerts, expect, promtool

pytestmark = pytest.mark.prometheus

CONFIG = """\
endpoints: [{name: api, kind: http, url: "http://127.0.0.1:9/api", interval: 10s}]
consumers:
  - name: shop
    endpoints: [api]
    slos: [{name: avail, sli: availability, objective: 99, window: 30d}]
"""
START = 1_000_000
PAGE = alerts("SlowatchErrorBudgetBurn", consumer="shop", slo="avail", severity="page", kind="burn_rate")
PAGING = 'ALERTS{alertname="SlowatchErrorBudgetBurn",severity="page",alertstate="firing"}'


def replica(name: str, restart: tuple[int, int] | None) -> list[dict[str, str]]:
    """Counters scraped once a minute for 70 minutes; `restart`: (stopped at minute, started at)."""
    values: dict[str, list[str]] = {"slowatch_slo_events_total": [], "slowatch_slo_good_events_total": []}
    events = good = START
    for minute in range(71):
        if restart is not None and restart[0] <= minute < restart[1]:
            values["slowatch_slo_events_total"].append("_")
            values["slowatch_slo_good_events_total"].append("_")
            continue
        values["slowatch_slo_events_total"].append(str(events))
        values["slowatch_slo_good_events_total"].append(str(good))
        if restart is None or not restart[0] <= minute + 1 < restart[1]:
            events += 100
            good += 100 if minute < 30 else 0
    labels = f'consumer="shop",slo="avail",instance="{name}:9464",replica="{name}",job="slowatch"'
    return [{"series": f"{metric}{{{labels}}}", "values": " ".join(v)} for metric, v in values.items()]


def run(tmp_path: Path, restart: tuple[int, int]) -> None:
    config = tmp_path / "slowatch.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(load(config, env={})))
    checks: list[dict[str, Any]] = [expect(PAGING, f"{m}m", [PAGE]) for m in (35, 41, 44, 46, 50, 60)]
    checks.append(expect(PAGING, "29m", []))
    case = {"name": "restart", "interval": "1m", "input_series": replica("a", None) + replica("b", restart),
            "promql_expr_test": checks}  # fmt: skip
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m", "tests": [case]}))
    proc = promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_replica_restarting_mid_outage_keeps_the_page(tmp_path: Path) -> None:
    run(tmp_path, (40, 43))
