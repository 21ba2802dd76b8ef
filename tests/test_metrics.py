"""Per-endpoint metrics: values after observes, both exposition formats, escaping, reloads, promtool."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import Config, MetricsConfig
from slowatch.metrics import ProbeMetrics, Scrape, SelfMetrics, prometheus_label, render_metrics, render_response
from slowatch.metrics import scrape as scrape_module
from slowatch.metrics.probe import SCRAPE_BUCKETS
from slowatch.models import Outcome, ProbeResult

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
HOSTILE = 'a "quoted" \\ back\\slash\nnew line'


@pytest.fixture(autouse=True)
def _no_created() -> None:
    disable_created_metrics()  # as the daemon does (process-wide switch in prometheus-client)


def endpoints(*specs: tuple[str, str, dict[str, str]]) -> list[Endpoint]:
    docs = []
    for name, kind, labels in specs:
        target = {"url": "http://127.0.0.1/"} if kind == "http" else {"host": "127.0.0.1", "port": 5432}
        docs.append({"name": name, "kind": kind, "labels": labels, **target})
    return list(Config.model_validate({"endpoints": docs}).endpoints)


def result(endpoint: str, outcome: Outcome = Outcome.SUCCESS, duration: float = 0.02, kind: str = "http",
           **kw: Any) -> ProbeResult:  # fmt: skip
    status = kw.pop("status_code", 200 if kind == "http" and outcome is Outcome.SUCCESS else None)
    return ProbeResult(endpoint=endpoint, kind=kind, outcome=outcome, started_at=kw.pop("started_at", 1.7e9),
                       duration=duration, status_code=status, **kw)  # fmt: skip


def samples(text: str, *, openmetrics: bool = False) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    families = parse_openmetrics(text) if openmetrics else parse_text(text)
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def scrape(registry: CollectorRegistry, accept: str = "") -> str:
    return render_metrics(registry, accept)[0].decode()


def observed() -> tuple[CollectorRegistry, ProbeMetrics]:
    registry = CollectorRegistry()
    buckets = [0.01, 0.1, 1.0]
    config = MetricsConfig(duration_buckets=buckets, endpoint_labels=["team-name"], histograms=True, phases=True)
    pm = ProbeMetrics(registry, config)
    pm.set_endpoints(endpoints(("web", "http", {"team-name": "shop"}), ("db", "tcp", {}), ("idle", "http", {})))
    pm.observe(result("web", duration=0.005, started_at=1763770000.25,
                      phases={"connect": 0.001, "processing": 0.004}, cert_expiry=1800000000.0))  # fmt: skip
    pm.observe(result("web", duration=0.05))
    pm.observe(result("web", Outcome.HTTP_STATUS, duration=2.5, status_code=503, phases={"tls": 0.002},
                      started_at=1763770010.5))  # fmt: skip
    pm.observe(result("db", Outcome.TIMEOUT, duration=0.5, kind="tcp"))
    return registry, pm


@pytest.mark.parametrize("openmetrics", [False, True])
def test_values_after_observes(openmetrics: bool) -> None:
    registry, _ = observed()
    text = scrape(registry, OPENMETRICS if openmetrics else "")
    got = samples(text, openmetrics=openmetrics)
    web, db = {"endpoint": "web", "team_name": "shop"}, {"endpoint": "db", "team_name": ""}
    assert got[key("slowatch_probe_success", kind="http", **web)] == 0.0
    assert got[key("slowatch_probe_success", kind="tcp", **db)] == 0.0
    assert got[key("slowatch_probes_total", kind="http", outcome="success", **web)] == 2.0
    assert got[key("slowatch_probes_total", kind="http", outcome="http_status", **web)] == 1.0
    assert got[key("slowatch_probes_total", kind="tcp", outcome="timeout", **db)] == 1.0
    buckets = [got[key("slowatch_probe_duration_seconds_bucket", kind="http", le=le, **web)]
               for le in ("0.01", "0.1", "1.0", "+Inf")]  # fmt: skip
    assert buckets == [1.0, 2.0, 2.0, 3.0]  # cumulative
    assert got[key("slowatch_probe_duration_seconds_count", kind="http", **web)] == 3.0
    assert got[key("slowatch_probe_duration_seconds_sum", kind="http", **web)] == pytest.approx(2.555)
    assert got[key("slowatch_probe_last_run_timestamp_seconds", **web)] == 1763770010.5
    assert got[key("slowatch_probe_http_status_code", **web)] == 503.0
    assert got[key("slowatch_probe_ssl_earliest_cert_expiry", **web)] == 1800000000.0
    phase = "slowatch_probe_http_duration_seconds"
    phases = {p: got[key(phase, phase=p, **web)] for p in ("connect", "processing", "tls")}
    assert phases == {"connect": 0.001, "processing": 0.004, "tls": 0.002}  # a phase stays until replaced
    assert key("slowatch_probe_http_status_code", **db) not in got  # not an HTTP endpoint
    assert not [k for k in got if ("endpoint", "idle") in k[1]]  # never probed: no series yet
    assert 'team_name="shop"' in text


def test_formats_headers_and_single_eof() -> None:
    registry, _ = observed()
    SelfMetrics(registry, pending_writes=lambda: 0.0, store_healthy=lambda: 1.0, in_flight=lambda: 0.0,
                jobs=lambda: 2.0, store_write_errors=lambda: 0.0, store_dropped=lambda: 0.0)  # fmt: skip
    om, content_type = render_metrics(registry, OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert om.count(b"# EOF") == 1 and om.endswith(b"# EOF\n")
    assert b"# TYPE slowatch_probes counter\n" in om and b"# TYPE slowatch_probe_duration_seconds histogram\n" in om
    families = {f.name: f.type for f in parse_openmetrics(om.decode())}
    assert families["slowatch_probes"] == "counter" and families["slowatch_scheduler_jobs"] == "gauge"
    text, content_type = render_metrics(registry, "text/plain")
    assert content_type.startswith("text/plain; version=0.0.4") and b"# EOF" not in text
    assert b"# TYPE slowatch_probes_total counter\n" in text and b"_created" not in text
    types = [line.split()[2] for line in text.decode().splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))  # no family twice
    assert {f.name for f in parse_text(text.decode())} >= {"slowatch_probes", "slowatch_scheduler_lag_seconds"}


def test_gzip_when_accepted() -> None:
    registry, _ = observed()
    body, headers = render_response(registry, "", "deflate, GZip")
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == render_metrics(registry, "")[0]
    assert "Content-Encoding" not in render_response(registry, "", "")[1]


def test_label_values_are_escaped_in_both_formats() -> None:
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(endpoint_labels=["owner"]))
    pm.set_endpoints(endpoints(("web", "http", {"owner": HOSTILE})))
    pm.observe(result("web"))
    text = scrape(registry)
    assert 'owner="a \\"quoted\\" \\\\ back\\\\slash\\nnew line"' in text
    for openmetrics, body in ((False, text), (True, scrape(registry, OPENMETRICS))):
        got = samples(body, openmetrics=openmetrics)
        assert got[key("slowatch_probe_success", endpoint="web", kind="http", owner=HOSTILE)] == 1.0


def test_removed_and_relabelled_endpoints_vanish() -> None:
    registry, pm = observed()
    pm.set_endpoints(endpoints(("web", "http", {"team-name": "checkout"})))
    pm.observe(result("db", Outcome.TIMEOUT, kind="tcp"))  # a late result of a removed endpoint
    text = scrape(registry)
    assert 'endpoint="db"' not in text and 'team_name="shop"' not in text
    assert 'endpoint="web"' not in text  # new labels: its series start afresh at the next result
    pm.observe(result("web"))
    got = samples(scrape(registry))
    web = {"endpoint": "web", "kind": "http", "team_name": "checkout"}
    assert got[key("slowatch_probes_total", outcome="success", **web)] == 1.0
    pm.set_endpoints(endpoints(("web", "http", {"team-name": "checkout"}), ("new", "http", {})))
    pm.observe(result("web"))
    assert samples(scrape(registry))[key("slowatch_probes_total", outcome="success", **web)] == 2.0  # kept


def test_scrapes_from_another_thread_while_observing() -> None:
    """The renderer reads slots without a lock: counters never go back, buckets match `_count`, nothing raises."""
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(duration_buckets=[0.01, 0.1], histograms=True))
    specs: list[tuple[str, str, dict[str, str]]] = [(f"ep-{i}", "http", {}) for i in range(50)]
    pm.set_endpoints(endpoints(*specs))
    stop, seen, errors = threading.Event(), list[float](), list[Exception]()

    def scraper() -> None:
        try:
            while not stop.is_set():
                got = samples(scrape(registry, OPENMETRICS), openmetrics=True)
                ep0 = {"endpoint": "ep-0", "kind": "http"}
                total = got.get(key("slowatch_probes_total", outcome="success", **ep0), 0.0)
                count = got.get(key("slowatch_probe_duration_seconds_count", **ep0), 0.0)
                assert count == got.get(key("slowatch_probe_duration_seconds_bucket", le="+Inf", **ep0), 0.0)
                seen.append(total)
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=scraper)
    thread.start()
    for i in range(20_000):
        pm.observe(result(f"ep-{i % 60}", phases={f"p{i % 7}": 0.001}))  # ep-50..59 are not configured (yet)
        if i % 2_000 == 0:
            pm.set_endpoints(endpoints(*specs, *((f"ep-{50 + j}", "http", {}) for j in range(i // 2_000))))
    stop.set()
    thread.join()
    assert not errors and seen == sorted(seen) and len(seen) > 1


class ClientMetrics:
    """The same families as prometheus-client objects (how slowatch rendered them before)."""

    def __init__(self, registry: CollectorRegistry, config: MetricsConfig, extra: list[str]) -> None:
        base, ep = ["endpoint", "kind", *extra], ["endpoint", *extra]
        self.success = Gauge("slowatch_probe_success", "1 if the endpoint's last probe succeeded, else 0", base,
                             registry=registry)  # fmt: skip
        self.failing = Gauge("slowatch_probe_failing", "1 while the endpoint's last probe failed; no series otherwise",
                             base, registry=registry)  # fmt: skip
        self.duration = Histogram("slowatch_probe_duration_seconds", "Probe duration (final attempts)", base,
                                  buckets=sorted(config.duration_buckets), registry=registry)  # fmt: skip
        self.total = Counter("slowatch_probes", "Final probe results by outcome", [*base, "outcome"], registry=registry)
        self.last_run = Gauge("slowatch_probe_last_run_timestamp_seconds",
                              "Unix time the endpoint's last probe started", ep, registry=registry)  # fmt: skip
        self.status = Gauge("slowatch_probe_http_status_code", "HTTP status of the last probe (0 when no response)",
                            ep, registry=registry)  # fmt: skip
        self.cert = Gauge(
            "slowatch_probe_ssl_earliest_cert_expiry",
            "Unix time the earliest certificate seen by the last probe expires",
            ep,
            registry=registry,
        )
        self.phase = Gauge("slowatch_probe_http_duration_seconds", "Duration of each phase of the last HTTP probe",
                           ["endpoint", "phase", *extra], registry=registry)  # fmt: skip
        Gauge("slowatch_probe_step_duration_seconds", "Duration of each step of the last transaction probe",
              ["endpoint", "step", *extra], registry=registry)  # fmt: skip
        Gauge("slowatch_probe_icmp_rtt_seconds", "Round-trip times of the last ICMP probe (min, avg, max)",
              ["endpoint", "stat", *extra], registry=registry)  # fmt: skip
        Gauge("slowatch_probe_icmp_packet_loss_ratio", "Share of echo requests of the last ICMP probe unanswered",
              ep, registry=registry)  # fmt: skip
        Histogram("slowatch_metrics_scrape_duration_seconds",
                  "Duration of one /metrics scrape, from the request to the last byte written",
                  buckets=SCRAPE_BUCKETS, registry=registry)  # fmt: skip

    def observe(self, r: ProbeResult, extra: tuple[str, ...]) -> None:
        self.success.labels(r.endpoint, r.kind, *extra).set(1.0 if r.ok else 0.0)
        if r.ok:
            with contextlib.suppress(KeyError):  # no series while it does not fail
                self.failing.remove(r.endpoint, r.kind, *extra)
        else:
            self.failing.labels(r.endpoint, r.kind, *extra).set(1.0)
        self.duration.labels(r.endpoint, r.kind, *extra).observe(r.duration)
        self.total.labels(r.endpoint, r.kind, *extra, r.outcome.value).inc()
        self.last_run.labels(r.endpoint, *extra).set(r.started_at)
        if r.kind == "http":
            self.status.labels(r.endpoint, *extra).set(r.status_code or 0)
            for phase, seconds in r.phases.items():
                self.phase.labels(r.endpoint, phase, *extra).set(seconds)
        if r.cert_expiry is not None:
            self.cert.labels(r.endpoint, *extra).set(r.cert_expiry)


def mixed_results(n: int) -> Iterable[ProbeResult]:
    outcomes = list(Outcome)
    for i in range(3 * n):
        ep, outcome = f"ep-{i % n}", outcomes[i % 7 * (i % 3 == 0)]
        yield result(ep, outcome, duration=(i * 37 % 1000) / 97.0, started_at=1763770000 + i * 0.37,
                     status_code=None if i % 11 == 0 else 200 + i % 4, phases={"connect": i / 7e5, "transfer": 1e-5},
                     cert_expiry=1.8e9 + i if i % 5 == 0 else None)  # fmt: skip


@pytest.mark.parametrize("detail", [True, False])  # histograms and phases on, or off (the defaults)
@pytest.mark.parametrize("accept", ["", OPENMETRICS])
def test_same_exposition_as_prometheus_client(accept: str, detail: bool) -> None:
    config = MetricsConfig(endpoint_labels=["zone", "env"], histograms=detail, phases=detail)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    pm, client = ProbeMetrics(ours, config), ClientMetrics(theirs, config, ["zone", "env"])
    pm.set_endpoints(endpoints(*((f"ep-{i}", "http", {"zone": f'z"{i % 3}', "env": "p\\d"}) for i in range(20))))
    for r in mixed_results(20):
        n = int(r.endpoint[3:])
        pm.observe(r)
        client.observe(r, (f'z"{n % 3}', "p\\d"))
    body = render_metrics(ours, accept)[0]
    reference = render_metrics(theirs, accept)[0]
    expected = reference.splitlines()
    if not detail:  # the reference has every family: the families switched off aside, the rest is the same
        ours_families = {line.split()[2] for line in body.splitlines() if line.startswith(b"# TYPE ")}
        assert b"slowatch_probe_duration_seconds" not in ours_families

        def kept(line: bytes) -> bool:
            if line == b"# EOF":
                return True
            name = line.split()[2] if line.startswith(b"#") else line.split(b"{")[0].split(b" ")[0]
            return any(name == f or name.startswith(f + b"_") for f in ours_families)

        expected = [line for line in expected if kept(line)]
    assert sorted(body.splitlines()) == sorted(expected)  # byte for byte, order aside
    if not accept:
        assert generate_latest(ours) == body  # prometheus-client's own encoder gets the same samples


def test_endpoint_label_names() -> None:
    assert prometheus_label("team-name") == "team_name" and prometheus_label("1x") == "_1x"
    with pytest.raises(ValueError, match="clash with slowatch's own 'kind' label"):
        MetricsConfig(endpoint_labels=["kind"])  # refused by the config, located, before any metric exists
    families: list[Metric] = list(ProbeMetrics(CollectorRegistry(), MetricsConfig(histograms=False)).describe())
    assert "slowatch_probe_duration_seconds" not in {f.name for f in families}


def test_promtool_accepts_1000_endpoints(tmp_path: Any) -> None:
    promtool = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (scripts/dev test installs Debian's prometheus package)")
        pytest.skip("promtool not installed")
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(endpoint_labels=["team"], histograms=True, phases=True))
    pm.set_endpoints(endpoints(*((f"ep-{i}", "http", {"team": f"t{i % 9}"}) for i in range(1000))))
    for r in mixed_results(1000):
        pm.observe(r)
    body = render_metrics(registry, "")[0]
    assert body.count(b"\n") > 20_000
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout.decode()[-2000:] + proc.stderr.decode()[-2000:]
    # promtool lints the text format only (it reads an OpenMetrics counter's `_total` samples as a family
    # without HELP); the OpenMetrics body goes through the client's strict OpenMetrics parser instead.
    om = render_metrics(registry, OPENMETRICS)[0].decode()
    assert len(samples(om, openmetrics=True)) == len(samples(body.decode()))


def test_cache_rerenders_only_observed_endpoints() -> None:
    registry, pm = observed()
    first = scrape(registry)
    web, db = pm._by_name["web"], pm._by_name["db"]
    web_chunks, db_chunks = web.chunks, db.chunks
    assert not web.dirty and not db.dirty
    assert scrape(registry) == first and web.chunks is web_chunks  # nothing observed: cached text, not re-rendered
    pm.observe(result("web", duration=0.05, started_at=1763770020.0))
    assert web.dirty
    got = samples(scrape(registry))
    labels = {"endpoint": "web", "team_name": "shop"}
    assert got[key("slowatch_probe_last_run_timestamp_seconds", **labels)] == 1763770020.0
    assert got[key("slowatch_probe_duration_seconds_count", kind="http", **labels)] == 4.0
    assert got[key("slowatch_probes_total", kind="http", outcome="success", **labels)] == 3.0
    assert web.chunks is not web_chunks and db.chunks is db_chunks  # only the observed endpoint was rendered again
    pm.observe(result("nope"))  # not configured: dropped, nothing goes dirty
    assert not any(slot.dirty for slot in pm._by_name.values())


def test_cache_follows_endpoints_added_and_removed_at_reload() -> None:
    registry, pm = observed()
    scrape(registry)
    web = pm._by_name["web"]
    cached = web.chunks
    pm.set_endpoints(endpoints(("web", "http", {"team-name": "shop"}), ("new", "http", {})))  # db removed, new added
    text = scrape(registry)
    assert pm._by_name["web"] is web and web.chunks is cached  # unchanged endpoint: same slot, text still cached
    assert 'endpoint="db"' not in text and 'endpoint="new"' not in text  # removed: gone; added: no result yet
    assert 'slowatch_probes_total{endpoint="web",kind="http",outcome="success",team_name="shop"} 2.0' in text
    pm.observe(result("new"))
    assert 'slowatch_probe_success{endpoint="new",kind="http",team_name=""} 1.0' in scrape(registry)
    pm.set_endpoints(endpoints(("web", "http", {"team-name": "ops"}), ("new", "http", {})))  # relabelled
    text = scrape(registry, OPENMETRICS)
    assert 'endpoint="web"' not in text and text.count("# EOF") == 1
    assert generate_latest(registry) == scrape(registry).encode()  # samples of the client's encoder: same cache


@pytest.mark.parametrize("accept", ["", OPENMETRICS])
@pytest.mark.parametrize("offload", [True, False])
async def test_scrape_stream_gzip_round_trip(accept: str, offload: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrape_module, "CHUNK_BYTES", 2048)  # several chunks (and deflate calls) per body
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(endpoint_labels=["team"]))
    pm.set_endpoints(endpoints(*((f"ep-{i}", "http", {"team": f"t{i % 9}"}) for i in range(200))))
    for r in mixed_results(200):
        pm.observe(r)
    expected, content_type = render_metrics(registry, accept)
    zipped = Scrape(registry, accept, "gzip, deflate", offload=offload)
    assert zipped.headers == {"Content-Type": content_type, "Content-Encoding": "gzip"}
    chunks = [c async for c in zipped.body()]
    assert len(chunks) >= 2 and gzip.decompress(b"".join(chunks)) == expected
    plain = Scrape(registry, accept, "identity")
    assert "Content-Encoding" not in plain.headers
    plain_chunks = [c async for c in plain.body()]
    assert len(plain_chunks) > 3 and b"".join(plain_chunks) == expected
    assert zipped.finished() > 0
    count = "slowatch_metrics_scrape_duration_seconds_count"
    assert f"{count} 1.0\n" in scrape(registry)  # observed once (the plain scrape was never finished)


async def test_concurrent_scrapes_each_see_one_rendering_per_endpoint() -> None:
    """Two scrapes pausing at every point while results arrive between the pauses: both bodies are valid and
    an endpoint's lines (success count, histogram count, last run) always belong to the same observation."""
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(duration_buckets=[0.01, 0.1], histograms=True))
    n = 700  # several refresh and join slices
    pm.set_endpoints(endpoints(*((f"ep-{i}", "http", {}) for i in range(n))))
    seen = [0] * n
    stop = False

    async def observer() -> None:
        i = 0
        while not stop:
            seen[i % n] += 1
            pm.observe(result(f"ep-{i % n}", duration=0.05, started_at=float(seen[i % n])))
            i += 7
            await asyncio.sleep(0)

    async def one(accept: str) -> str:
        body = Scrape(registry, accept, "", budget=0.0).body()  # budget 0: pause at every point
        return b"".join([c async for c in body]).decode()

    task = asyncio.create_task(observer())
    texts = await asyncio.gather(one(OPENMETRICS), one(""), one(OPENMETRICS))
    stop = True
    await task
    for text, om in zip(texts, (True, False, True), strict=True):
        got = samples(text, openmetrics=om)
        assert text.count("# EOF") == (1 if om else 0)
        for i in range(n):
            labels = {"endpoint": f"ep-{i}", "kind": "http"}
            count = got.get(key("slowatch_probe_duration_seconds_count", **labels))
            if count is None:
                continue
            assert got[key("slowatch_probes_total", outcome="success", **labels)] == count
            assert got[key("slowatch_probe_last_run_timestamp_seconds", endpoint=f"ep-{i}")] == count


@pytest.mark.parametrize(
    "accept",
    [
        "",
        OPENMETRICS,
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
        "application/openmetrics-text;version=1.0.0;escaping=dots",
        "text/plain;version=1.0.0;escaping=allow-utf-8",
    ],
)
def test_registry_families_as_the_client_encodes_them(accept: str) -> None:
    """The registry part (written here for plain samples, sliced) is byte for byte the client's encoder output."""
    registry = CollectorRegistry()
    SelfMetrics(registry, pending_writes=lambda: 3.0, store_healthy=lambda: 1.0, in_flight=lambda: 0.0,
                jobs=lambda: 2.0, store_write_errors=lambda: 1.0, store_dropped=lambda: 0.0)  # fmt: skip
    big = Gauge("big_family", "many\nsamples \\ here", ["consumer", "slo", "a_window"], registry=registry)
    for i in range(1_234):  # several slices
        big.labels(f'c"{i % 7}\\x\n', f"slo-{i}", "1h").set(i / 7 if i % 5 else 1.7e9 + i)
    Counter("odd:name_events", "colon in the name", ["k"], registry=registry).labels("v").inc(3)
    Gauge("unit_gauge_bytes", "with a unit", unit="bytes", registry=registry).set(float("inf"))
    Histogram("plain_seconds", "a histogram", registry=registry).observe(0.3)
    Counter("plain_events", "a counter", registry=registry).inc(12345678.5)
    om_encoder, _ = choose_encoder(accept)
    assert render_metrics(registry, accept)[0] == om_encoder(registry)


async def test_a_burst_of_missed_or_skipped_runs_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, pending_writes=lambda: 0.0, store_healthy=lambda: 1.0,
                          in_flight=lambda: 0.0, jobs=lambda: 200.0, store_write_errors=lambda: 0.0,
                          store_dropped=lambda: 0.0)  # fmt: skip
    caplog.set_level(logging.WARNING)
    for i in range(3600):  # what one scheduler tick reports after a 60 s SIGSTOP at 200 endpoints
        metrics.missed_run(f"e{i % 200}")
    await asyncio.sleep(0)
    lines = [r.getMessage() for r in caplog.records if "missed" in r.getMessage()]
    assert len(lines) == 1 and "runs=3600 endpoints=200" in lines[0]
    metrics.missed_run("e1")  # within MISS_LOG_EVERY of the last line: summed into the next one
    await asyncio.sleep(0.05)
    assert len([r for r in caplog.records if "missed" in r.getMessage()]) == 1
    assert registry.get_sample_value("slowatch_scheduler_missed_runs_total") == 3601
    for i in range(54):  # the runs armed before the stop and their collapsed successors, in one turn
        metrics.skipped_run(f"e{i}")
    await asyncio.sleep(0)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "runs=54 endpoints=54" in skipped[0]


@pytest.mark.parametrize("accept", ["", OPENMETRICS])
def test_a_label_value_that_is_not_valid_unicode_does_not_break_the_exposition(accept: str) -> None:
    """`${TEAM}` from an environment that is not UTF-8 arrives with lone surrogates (Python's
    surrogateescape): the scrape must still be UTF-8 that parses, the bad bytes shown as U+FFFD."""
    registry = CollectorRegistry()
    pm = ProbeMetrics(registry, MetricsConfig(endpoint_labels=["team"]))
    pm.set_endpoints(endpoints(("a", "http", {"team": 'v\udcff "q" \\ \n'})))
    pm.observe(result("a", Outcome.SUCCESS))
    body = render_metrics(registry, accept)[0]
    parse = parse_openmetrics if accept else parse_text
    [sample] = [s for f in parse(body.decode()) for s in f.samples if s.name == "slowatch_probe_success"]
    assert sample.labels["team"] == 'v\ufffd "q" \\ \n'
