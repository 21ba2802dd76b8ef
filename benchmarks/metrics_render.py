"""/metrics render and ProbeMetrics.observe: slowatch's renderer vs prometheus-client's, in-process, no network.

  .venv/bin/python benchmarks/metrics_render.py [--endpoints 10000] [--repeat 3]

For each of histograms on/off it fills slowatch's `ProbeMetrics` and a prometheus-client implementation of
the same families (the one slowatch used before: Gauge/Counter/Histogram children in a registry) with the
same results (two per endpoint), then prints µs per observe (the second result: children exist), and the
best of `--repeat` renders in text 0.0.4 and OpenMetrics 1.0 (+ gzip level 1, as /metrics does) for both,
with the ratio. The client is measured with its `_created` series (as slowatch exported before) and
without (the same output as slowatch's, byte for byte).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import time
from collections.abc import Callable

import prometheus_client.metrics as client_metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from slowatch.config.schema import Config, MetricsConfig
from slowatch.metrics import ProbeMetrics, render_metrics
from slowatch.models import Outcome, ProbeResult

ACCEPT = {"text 0.0.4": "", "openmetrics": "application/openmetrics-text; version=1.0.0"}


class ClientProbeMetrics:
    """The same families through prometheus-client children (slowatch/metrics.py before the fast renderer)."""

    def __init__(self, registry: CollectorRegistry, config: MetricsConfig) -> None:
        base = ["endpoint", "kind"]
        self.success = Gauge("slowatch_probe_success", "1 if the endpoint's last probe succeeded, else 0", base,
                             registry=registry)  # fmt: skip
        self.failing = Gauge("slowatch_probe_failing", "1 while the endpoint's last probe failed; no series otherwise",
                             base, registry=registry)  # fmt: skip
        self.duration = None
        if config.histograms:
            self.duration = Histogram("slowatch_probe_duration_seconds", "Probe duration (final attempts)", base,
                                      buckets=sorted(config.duration_buckets), registry=registry)  # fmt: skip
        self.total = Counter("slowatch_probes", "Final probe results by outcome", [*base, "outcome"], registry=registry)
        self.last_run = Gauge("slowatch_probe_last_run_timestamp_seconds",
                              "Unix time the endpoint's last probe started", ["endpoint"],
                              registry=registry)  # fmt: skip
        Gauge("slowatch_probe_ssl_earliest_cert_expiry",
              "Unix time the earliest certificate seen by the last probe expires", ["endpoint"],
              registry=registry)  # fmt: skip
        self.status = Gauge("slowatch_probe_http_status_code", "HTTP status of the last probe (0 when no response)",
                            ["endpoint"], registry=registry)  # fmt: skip
        self.phase = Gauge("slowatch_probe_http_duration_seconds", "Duration of each phase of the last HTTP probe",
                           ["endpoint", "phase"], registry=registry)  # fmt: skip

    def observe(self, r: ProbeResult) -> None:
        self.success.labels(r.endpoint, r.kind).set(1.0 if r.ok else 0.0)
        if not r.ok:
            self.failing.labels(r.endpoint, r.kind).set(1.0)
        else:
            with contextlib.suppress(KeyError):
                self.failing.remove(r.endpoint, r.kind)
        if self.duration is not None:
            self.duration.labels(r.endpoint, r.kind).observe(r.duration)
        self.total.labels(r.endpoint, r.kind, r.outcome.value).inc()
        self.last_run.labels(r.endpoint).set(r.started_at)
        self.status.labels(r.endpoint).set(r.status_code or 0)
        for phase, seconds in r.phases.items():
            self.phase.labels(r.endpoint, phase).set(seconds)


def results(n: int, now: float, seed: int) -> list[ProbeResult]:
    out = []
    for i in range(n):
        ok = (i + seed) % 25 != 0
        out.append(ProbeResult(
            endpoint=f"ep-{i:06d}", kind="http", outcome=Outcome.SUCCESS if ok else Outcome.HTTP_STATUS,
            started_at=now + i * 0.001 + seed, duration=0.0005 + (i * 7919 + seed) % 4000 / 1e6,
            status_code=200 if ok else 500,
            phases={"connect": 1e-4 + i % 400 / 1e6, "processing": 1e-4 + i % 1900 / 1e6, "transfer": 2e-5},
        ))  # fmt: skip
    return out


def best(fn: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    times, body = [], b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        body = fn()
        times.append(time.perf_counter() - t0)
    return min(times), body


def run(n: int, histograms: bool, repeat: int) -> None:
    config = MetricsConfig(histograms=histograms)
    endpoints = Config.model_validate({"endpoints": [
        {"name": f"ep-{i:06d}", "kind": "http", "url": "http://127.0.0.1/", "interval": "10s"} for i in range(n)
    ]}).endpoints  # fmt: skip
    batches = [results(n, time.time(), seed) for seed in (0, 1)]
    ours_registry, client_registry = CollectorRegistry(), CollectorRegistry()
    ours, client = ProbeMetrics(ours_registry, config), ClientProbeMetrics(client_registry, config)
    ours.set_endpoints(endpoints)
    for label, observe in (("slowatch", ours.observe), ("client", client.observe)):
        for r in batches[0]:
            observe(r)  # the client creates its children here
        t0 = time.perf_counter()
        for r in batches[1]:
            observe(r)
        print(f"observe   histograms={histograms!s:5} {label:8}: {(time.perf_counter() - t0) / n * 1e6:5.2f} µs")
    for fmt, accept in ACCEPT.items():
        ours_s, body = best(lambda a=accept: render_metrics(ours_registry, a)[0], repeat)  # type: ignore[misc]
        gz_s, _ = best(lambda b=body: gzip.compress(b, compresslevel=1), 1)  # type: ignore[misc]
        encoder = choose_encoder(accept)[0]
        figures = []
        for created in (True, False):
            client_metrics._use_created = created  # the switch disable_created_metrics() flips
            client_s, client_body = best(lambda e=encoder: e(client_registry), max(1, repeat - 1))  # type: ignore[misc]
            ours_lines = [ln for ln in body.splitlines() if b"slowatch_metrics_scrape_duration" not in ln]
            same = " (same bytes)" if sorted(client_body.splitlines()) == sorted(ours_lines) else ""
            name = "client" if created else "client without _created"
            figures.append(f"{name} {client_s:.3f} s = {client_s / ours_s:.0f}x{same}")
        client_metrics._use_created = True
        print(f"render    histograms={histograms!s:5} {fmt:11}: slowatch {ours_s:.3f} s ({len(body) / 1e6:.1f} MB, "
              f"+{gz_s:.3f} s gzip); " + "; ".join(figures))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoints", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        for histograms in (True, False):
            run(args.endpoints, histograms, args.repeat)


if __name__ == "__main__":
    main()
