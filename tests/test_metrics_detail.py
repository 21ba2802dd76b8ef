"""Which per-endpoint series /metrics exports by default, and what each `server.metrics` switch adds."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from slowatch.config.schema import Config, MetricsConfig
from slowatch.metrics import ProbeMetrics, render_metrics
from slowatch.models import Outcome, ProbeResult

PHASES = {"resolve": 1e-4, "connect": 2e-4, "tls": 3e-3, "processing": 4e-3, "transfer": 5e-5}


@pytest.fixture(autouse=True)
def _no_created() -> None:
    disable_created_metrics()  # as the daemon does


def served(n: int, **options: Any) -> tuple[CollectorRegistry, ProbeMetrics]:
    """`n` HTTPS endpoints (ep-000000, ...) and one TCP endpoint, each with one result."""
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(**options))
    docs: list[dict[str, Any]] = [{"name": f"ep-{i:06d}", "kind": "http", "url": "https://x.test/"} for i in range(n)]
    docs.append({"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 5432})
    pm.set_endpoints(Config.model_validate({"endpoints": docs}).endpoints)
    for i in range(n):
        pm.observe(ProbeResult(endpoint=f"ep-{i:06d}", kind="http", outcome=Outcome.SUCCESS, started_at=1.7e9 + i / 7,
                               duration=0.0123, status_code=200, phases=PHASES, cert_expiry=1.8e9))  # fmt: skip
    pm.observe(ProbeResult(endpoint="db", kind="tcp", outcome=Outcome.TIMEOUT, started_at=1.7e9, duration=5.0))
    return registry, pm


def series_of(registry: CollectorRegistry, endpoint: str) -> dict[str, int]:
    """Family name -> number of series of `endpoint` in the text exposition."""
    text = render_metrics(registry, "")[0].decode()
    out: dict[str, int] = {}
    for family in parse_text(text):
        n = sum(1 for s in family.samples if s.labels.get("endpoint") == endpoint)
        if n:
            out[family.name] = n
    return out


def test_defaults_keep_what_alerts_and_rules_need_and_nothing_per_phase_or_bucket() -> None:
    registry, _ = served(3)
    assert series_of(registry, "ep-000001") == {
        "slowatch_probe_success": 1,  # endpoint-down alerts
        "slowatch_probes": 1,  # slowatch_probes_total{outcome}: one series per outcome seen
        "slowatch_probe_last_run_timestamp_seconds": 1,  # staleness: is it still probed?
        "slowatch_probe_http_status_code": 1,
        "slowatch_probe_ssl_earliest_cert_expiry": 1,
    }
    assert series_of(registry, "db") == {
        "slowatch_probe_success": 1, "slowatch_probes": 1, "slowatch_probe_last_run_timestamp_seconds": 1,
        "slowatch_probe_failing": 1,  # sparse: only while the last probe failed (db timed out), for the fleet rules
    }  # fmt: skip


def test_each_switch_adds_the_documented_series() -> None:
    base = sum(series_of(served(1)[0], "ep-000000").values())
    buckets = [0.05, 0.1, 0.3, 1.0]
    histograms = series_of(served(1, histograms=True, duration_buckets=buckets)[0], "ep-000000")
    assert histograms["slowatch_probe_duration_seconds"] == len(buckets) + 3  # buckets, +Inf, _count, _sum
    assert sum(histograms.values()) == base + len(buckets) + 3
    phases = series_of(served(1, phases=True)[0], "ep-000000")
    assert phases["slowatch_probe_http_duration_seconds"] == len(PHASES)
    assert sum(phases.values()) == base + len(PHASES)
    assert "slowatch_probe_http_duration_seconds" not in series_of(served(0, phases=True)[0], "db")  # HTTP only


def test_default_body_fits_50_mb_at_100000_endpoints() -> None:
    """The issue's budget: <= 50 MB of text at 100,000 endpoints, i.e. <= 500 bytes per endpoint (here
    measured at 2,000 HTTPS endpoints, the widest default kind, minus the body of the endpoint-less parts)."""
    empty = len(render_metrics(served(0)[0], "")[0])
    body = len(render_metrics(served(2_000)[0], "")[0])
    per_endpoint = (body - empty) / 2_000
    assert per_endpoint <= 500, per_endpoint
    with_histograms = len(render_metrics(served(2_000, histograms=True, phases=True)[0], "")[0])
    assert (with_histograms - empty) / 2_000 > 3 * per_endpoint  # the detail is the bulk, hence opt-in


def test_phases_off_keeps_no_phase_state() -> None:
    _, pm = served(2)
    assert all(not slot.kind_gauges and not slot.gauges and not slot.splits for slot in pm._by_name.values())


def test_failing_series_exists_exactly_while_success_is_0() -> None:
    """`slowatch_probe_failing` is `slowatch_probe_success == 0` as a sparse series (the fleet rules read it instead
    of every success series): the same label set in the same scrape, and gone from the first scrape after a success
    (Prometheus then marks it stale at once). Outcomes other than success all count as failing."""
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(endpoint_labels=["team"]), const_labels=[("location", "eu")])
    docs = [{"name": n, "kind": "http", "url": "https://x.test/", "labels": {"team": "t"}} for n in ("a", "b")]
    pm.set_endpoints(Config.model_validate({"endpoints": docs}).endpoints)

    def scrape() -> tuple[dict[str, Any], dict[str, Any]]:
        families = {f.name: f for f in parse_text(render_metrics(registry, "")[0].decode())}
        success = {s.labels["endpoint"]: (s.labels, s.value) for s in families["slowatch_probe_success"].samples}
        failing = {s.labels["endpoint"]: (s.labels, s.value) for s in families["slowatch_probe_failing"].samples}
        return success, failing

    assert scrape() == ({}, {})  # no result yet: neither
    steps = [(Outcome.SUCCESS, Outcome.TIMEOUT), (Outcome.ASSERTION_FAILED, Outcome.SUCCESS)]
    for i, (outcome_a, outcome_b) in enumerate([*steps, (Outcome.SUCCESS, Outcome.SUCCESS)]):
        for name, outcome in (("a", outcome_a), ("b", outcome_b)):
            pm.observe(ProbeResult(endpoint=name, kind="http", outcome=outcome, started_at=1.7e9 + i, duration=0.1))
        success, failing = scrape()
        assert failing == {ep: (labels, 1.0) for ep, (labels, value) in success.items() if value == 0.0}, i
        assert {ep for ep, (_, value) in success.items() if value == 0.0} == {
            ep for ep, o in (("a", outcome_a), ("b", outcome_b)) if o is not Outcome.SUCCESS
        }
    assert failing == {}
    assert success["a"][0] == {"endpoint": "a", "kind": "http", "team": "t", "location": "eu"}
