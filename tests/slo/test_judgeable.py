"""SLOs whose window can never hold the units their objective needs (slo/judgeable.py): a warning from `slowatch
check` and in the daemon's log, since such an SLO reads "collecting data" for ever and never pages."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from slowatch.cli import main
from slowatch.clock import FakeClock
from slowatch.config.loader import load_text
from slowatch.config.schema import RetentionConfig
from slowatch.slo.definitions import compile_config
from slowatch.slo.display import units_needed
from slowatch.slo.judgeable import units_per_window, unjudgeable_warnings
from slowatch.slo.service import SloService
from slowatch.store import Store

CONFIG = """
endpoints:
  - {name: a, kind: http, url: "http://127.0.0.1:9/", interval: 5m}
  - {name: b, kind: http, url: "http://127.0.0.1:9/", interval: 30s}
  - {name: spare, kind: http, url: "http://127.0.0.1:9/", interval: 10s, enabled: false}
consumers:
  - name: shop
    endpoints: [a, spare]
    slos:
      - {name: strict, sli: availability, objective: 99.99}
      - {name: fine, sli: availability, objective: 99.9}
      - {name: minutes, sli: availability, objective: 99.999, budgeting: timeslices, window: {calendar: month}}
      - {name: journey, objective: 99.99, composite: {method: worst, members: [{slo: strict}, {slo: fine}]}}
  - name: both
    endpoints: [a, b]
    slos:
      - {name: strict, sli: availability, objective: 99.99}
"""


def test_an_objective_the_window_can_never_judge_is_named_with_its_figures() -> None:
    config = load_text(CONFIG)
    warnings = unjudgeable_warnings(config)
    assert [w.split(" (")[0] for w in warnings] == ["SLO shop/strict", "SLO shop/minutes"]
    assert warnings[0] == (
        "SLO shop/strict (99.99% over 30d) can never be judged: its window holds at most 8,640 probes and 99.99% "
        "needs 10,000 probes before one bad one fits in its budget, so it stays 'collecting data' and never pages: "
        "probe its endpoints more often, add endpoints, or lower the objective"
    )  # (the disabled endpoint adds no probes)
    assert "at most 8,640 timeslices" in warnings[1] and "needs 100,000 timeslices" in warnings[1]
    both = next(d for d in compile_config(config) if d.consumer == "both")
    assert units_per_window(config, both) == 8_640 + 86_400


def test_check_warns_and_still_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr()
    assert "warning: SLO shop/strict (99.99% over 30d) can never be judged" in out.err
    assert "OK (2 endpoints" in out.out


async def test_the_daemon_logs_it_at_start_and_on_reload(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = CONFIG.replace("window: {calendar: month}", "window: 7d")  # (no time zone read on the loop)
    text = f"server: {{database: {tmp_path / 'j.db'}}}\n" + text
    config = load_text(text)
    clock = FakeClock()
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    service = SloService(config, store, clock, refresh_interval=3600, persist_interval=3600)
    await store.start()
    try:
        with caplog.at_level(logging.WARNING, logger="slowatch.slo.service"):
            await service.start()
            started = [r.getMessage() for r in caplog.records if "can never be judged" in r.getMessage()]
            assert [m.split(" (")[0] for m in started] == ["SLO shop/strict", "SLO shop/minutes"]
            caplog.clear()
            await service.reload(load_text(text.replace("interval: 5m", "interval: 1m")))
            reloaded = [r.getMessage() for r in caplog.records if "can never be judged" in r.getMessage()]
            assert [m.split(" (")[0] for m in reloaded] == ["SLO shop/minutes"]  # 43,200 probes judge 99.99%
    finally:
        await service.stop()
        await store.close()


def test_timeslices_count_only_the_slices_a_probe_can_fall_in() -> None:
    """One endpoint every 5 minutes fills at most one 1-minute slice in five: 8,640 in 30 days, not 43,200."""
    config = load_text("""
endpoints:
  - {name: a, kind: http, url: "http://127.0.0.1:9/", interval: 5m}
consumers:
  - name: shop
    endpoints: [a]
    slos:
      - {name: minutes, sli: availability, objective: 99.99, budgeting: timeslices, window: 30d}
""")
    (warning,) = unjudgeable_warnings(config)
    assert "at most 8,640 timeslices" in warning and "needs 10,000 timeslices" in warning
    assert "probe its endpoints at least once a timeslice" in warning


def test_check_answers_at_once_for_an_objective_with_a_tiny_budget(tmp_path: Path) -> None:
    """99.99999999999 % leaves a budget of 1e-13: `units_needed` started from 1 / (1.0 - objective) in floats
    (1.0008e13) and stepped down one unit at a time, so `slowatch check` (and the daemon's start,
    which warns the same way, and every /api/v1 SLO answer) spun for hours."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(
        'endpoints: [{name: api, kind: http, url: "http://127.0.0.1:9/"}]\n'
        "consumers: [{name: shop, endpoints: [api],\n"
        "             slos: [{name: avail, sli: availability, objective: 99.99999999999}]}]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "slowatch", "check", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "needs 9,999,999,990,000 probes" in proc.stderr  # 1e13 x (1 - 1e-9): too_few_events' tolerance
    assert units_needed(0.999) == 1000 and units_needed(0.9995) == 2000 and units_needed(0.9) == 10


LOW = """
endpoints: [{name: a, kind: http, url: "http://127.0.0.1:9/", interval: 10s}]
consumers:
  - name: shop
    endpoints: [a]
    slos:
      - {name: ninety, sli: availability, objective: 90}
      - {name: eighty, sli: availability, objective: 80, window: 7d}
      - {name: tuned, sli: availability, objective: 90}
      - {name: muted, sli: availability, objective: 50}
      - {name: usual, sli: availability, objective: 99}
alerting:
  slos:
    - {consumer: shop, slo: tuned, burn_tiers: [{severity: page, long: 1h, short: 5m, factor: 9}]}
    - {consumer: shop, slo: muted, enabled: false}
"""


def test_check_warns_of_burn_tiers_a_low_objective_can_never_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 90 % the burn rate is at most 10x (every probe bad): the Workbook's 14.4x page tier never fires, in
    slowatch or in the generated rules, and a total outage pages only through the 6x tier, hours later. At 80 %
    (at most 5x) over 7d the tiers are 3.36x, 1.4x, 0.7x and 0.23x: all reachable."""
    path = tmp_path / "c.yaml"
    path.write_text(LOW)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr()
    warned = [line for line in out.err.splitlines() if "can never fire" in line]
    assert warned == [
        "warning: SLO shop/ninety (90%): its page burn tier 1h/5m above 14.4x can never fire, since the burn rate is "
        "at most 10x (every probe bad): give it burn_tiers of its own under alerting.slos with factors below 10x, or "
        "raise the objective"
    ]
    assert "OK (1 endpoint," in out.out


QUORUM = """
server: {cluster: {locations: [eu, us, ap], location: eu}}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 10s}
  - {name: slow, kind: http, url: "http://127.0.0.1:9/", interval: 2m}
consumers:
  - name: shop
    endpoints: [api]
    slos:
      - {name: hourly, sli: availability, objective: 99, window: 1h, locations: {quorum: 2}}
      - {name: monthly, sli: availability, objective: 99.9, locations: {quorum: 2}}
      - {name: plain, sli: availability, objective: 99, window: 1h}
  - name: batch
    endpoints: [api, slow]
    slos: [{name: daily, sli: availability, objective: 99.9, window: 1d, locations: {quorum: 2}}]
"""


def test_a_location_quorum_is_judged_by_its_slices_not_its_probes() -> None:
    """The generated rules judge a location-quorum SLO by slices (1m, or its slowest probe interval): a 1h window
    holds 60 of them, fewer than the 100 a 99 % objective needs, however many probes the locations send."""
    warnings = unjudgeable_warnings(load_text(QUORUM))
    assert [w.split(" (")[0] for w in warnings] == ["SLO shop/hourly", "SLO batch/daily"]
    assert "at most 60 slices of 1m (location quorum)" in warnings[0] and "needs 100 slices" in warnings[0]
    assert "at most 720 slices of 2m (location quorum)" in warnings[1] and "needs 1,000 slices" in warnings[1]
    assert "lengthen the window" in warnings[0]
