"""The SLO collector: parseable exposition from the Snapshot only; no NaN, no series without data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from slowatch.slo.engine import Engine
from slowatch.slo.metrics import SloCollector
from tests.slo.helpers import config, result

H = 1_789_999_200.0


def scrape(engine: Engine, now: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    snapshot = engine.refresh(now)
    registry = CollectorRegistry()
    registry.register(SloCollector(lambda: snapshot))
    text = generate_latest(registry).decode()
    assert "NaN" not in text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_exposition_parses_and_carries_every_family() -> None:
    slo = {"name": "avail", "sli": "availability", "objective": 99, "window": "30d"}
    idle = {"name": "idle", "endpoints": ["c"], "slos": [{"name": "avail", "sli": "availability", "objective": 99.9}]}
    engine = Engine(config([{"name": "shop", "endpoints": ["a"], "slos": [slo]}, idle]), H)
    for i in range(100):
        engine.observe(result(H + i * 30, ok=i % 10 != 0))
    samples = scrape(engine, H + 3000)
    shop = (("consumer", "shop"), ("slo", "avail"))
    assert samples[("slowatch_slo_objective_ratio", shop)] == 0.99
    assert samples[("slowatch_slo_sli_ratio", (*shop[:2], ("window", "30d")))] == 0.9
    assert abs(samples[("slowatch_slo_burn_rate", (*shop[:2], ("window", "30d")))] - 10.0) < 1e-9
    assert abs(samples[("slowatch_slo_burn_rate", (*shop[:2], ("window", "5m")))] - 10.0) < 1e-9
    assert abs(samples[("slowatch_slo_error_budget_remaining_ratio", shop)] - (-9.0)) < 1e-9
    assert ("slowatch_slo_time_to_exhaustion_seconds", shop) not in samples  # overspent: no exhaustion time
    assert samples[("slowatch_slo_no_data", shop)] == 0
    assert samples[("slowatch_slo_events_total", shop)] == 100
    assert samples[("slowatch_slo_good_events_total", shop)] == 90
    idle_labels = (("consumer", "idle"), ("slo", "avail"))
    assert samples[("slowatch_slo_no_data", idle_labels)] == 1
    assert samples[("slowatch_slo_objective_ratio", idle_labels)] == 0.999
    valued = ("sli_ratio", "burn_rate", "error_budget_remaining_ratio", "time_to_exhaustion_seconds")
    idle_series = {name for name, labels in samples if labels[:2] == idle_labels}
    assert not {name for name in idle_series if name.removeprefix("slowatch_slo_") in valued}
    assert "slowatch_slo_events_total" in idle_series


def test_time_to_exhaustion_is_exported_while_budget_remains() -> None:
    slo = {"name": "avail", "sli": "availability", "objective": 90, "window": "1d"}
    engine = Engine(config([{"name": "shop", "endpoints": ["a"], "slos": [slo]}]), H)
    for i in range(100):
        engine.observe(result(H + i * 30, ok=i != 99))
    samples = scrape(engine, H + 3000)
    shop = (("consumer", "shop"), ("slo", "avail"))
    # remaining 1 - (1/100)/0.1 = 0.9; the 1h window holds 100 probes, 1 bad: burn (1/100)/0.1 = 0.1
    assert abs(samples[("slowatch_slo_time_to_exhaustion_seconds", shop)] - 0.9 * 86400 / 0.1) < 1e-6


def test_refresh_durations_are_a_histogram() -> None:
    from slowatch.slo.metrics import refresh_histogram

    times = refresh_histogram()
    for seconds in (0.0004, 0.003, 0.003, 0.2, 7.0):
        times.observe(seconds)
    registry = CollectorRegistry()
    registry.register(SloCollector(lambda: Engine(config([]), H).refresh(H), times))
    text = generate_latest(registry).decode()
    samples = {(s.name, s.labels.get("le")): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("slowatch_slo_refresh_seconds_bucket", "0.001")] == 1
    assert samples[("slowatch_slo_refresh_seconds_bucket", "0.005")] == 3
    assert samples[("slowatch_slo_refresh_seconds_bucket", "0.25")] == 4
    assert samples[("slowatch_slo_refresh_seconds_bucket", "+Inf")] == 5
    assert samples[("slowatch_slo_refresh_seconds_count", None)] == 5
    assert abs(samples[("slowatch_slo_refresh_seconds_sum", None)] - 7.2064) < 1e-9
